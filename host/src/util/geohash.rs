//! Geohash arithmetic behind the GEO commands: a position is stored as the
//! score of a sorted-set member, a 52-bit integer that interleaves 26 bits of
//! latitude (even bit positions) with 26 bits of longitude (odd positions),
//! each the position's offset inside its range scaled to `2^26` cells —
//! Redis's layout, with latitudes limited to the Web-Mercator band
//! `±85.05112878`. This file owns the encoding and decoding, the eight
//! neighbouring cells, the cells that cover a search shape, the haversine
//! distance and the standard base-32 geohash text.
//!
//! Every operation is carried out with the same `f64` operations in the same
//! order as Redis 7.0, so that coordinates, distances and search results
//! agree with it to the last printed digit (tests/corpus/geo.txt and
//! tests/geo_random.rs compare them byte for byte). The trigonometric
//! functions are the platform libm's, as Redis's are.

use std::f64::consts::PI;

/// Bits per coordinate at full precision: 26 + 26 = 52 bits, an exact
/// integer in a double.
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// The Earth's quadratic mean radius in WGS-84, the sphere distances are measured on.
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Web-Mercator world width in meters: a radius this large needs one cell.
const MERCATOR_MAX: f64 = 20037726.37;
/// Degrees to radians, computed like Redis's `M_PI / 180.0`.
const D_R: f64 = PI / 180.0;

#[inline]
fn deg_rad(deg: f64) -> f64 {
    deg * D_R
}

#[inline]
fn rad_deg(rad: f64) -> f64 {
    rad / D_R
}

/// A cell: `2 * step` interleaved bits. A search may skip a neighbour; that
/// one is represented by `None` rather than Redis's all-zero cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

/// A closed interval of degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub min: f64,
    pub max: f64,
}

/// The longitudes and latitudes a cell spans.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub lon: Interval,
    pub lat: Interval,
}

/// The ranges scores are encoded in.
const LON_RANGE: Interval = Interval {
    min: LON_MIN,
    max: LON_MAX,
};
const LAT_RANGE: Interval = Interval {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Bit `i` of `v` moves to bit `2i` (a "dilated" integer).
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The inverse of [`spread`]: gathers the even bits of `v`.
fn gather(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// C's conversion of a double to `uint64_t` as GCC compiles it for x86-64:
/// values below 2^63 truncate through a signed conversion (negative ones wrap,
/// out-of-range ones give 2^63), larger ones are offset by 2^63 first (so 2^64
/// and beyond, infinity included, give 0). Scores that were not written by
/// GEOADD decode through this, as they do in Redis.
pub fn c_double_to_u64(v: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    // cvttsd2si: NaN and anything outside the i64 range give i64::MIN.
    fn cvtt(v: f64) -> i64 {
        if v.is_nan() || !(-TWO63..TWO63).contains(&v) {
            i64::MIN
        } else {
            v as i64
        }
    }
    if v >= TWO63 {
        (cvtt(v - TWO63) as u64) ^ (1 << 63)
    } else {
        cvtt(v) as u64
    }
}

/// The cell of `step` bits per coordinate holding (lon, lat), with the
/// coordinates' offsets measured inside `lon_range`/`lat_range`; `None` when
/// the position is outside them or outside the encodable band.
pub fn encode_in(
    lon_range: Interval,
    lat_range: Interval,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<Cell> {
    if step == 0 || step > 32 || !(LON_MIN..=LON_MAX).contains(&lon) {
        return None;
    }
    if !(LAT_MIN..=LAT_MAX).contains(&lat)
        || lat < lat_range.min
        || lat > lat_range.max
        || lon < lon_range.min
        || lon > lon_range.max
    {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * cells;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * cells;
    // The offsets are in [0, 2^step]; C converts them to uint32_t by truncation.
    let lat_cell = lat_offset as u64 as u32;
    let lon_cell = lon_offset as u64 as u32;
    Some(Cell {
        bits: spread(lat_cell) | (spread(lon_cell) << 1),
        step,
    })
}

/// [`encode_in`] over the ranges scores use.
pub fn encode(lon: f64, lat: f64, step: u8) -> Option<Cell> {
    encode_in(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// The score GEOADD stores for (lon, lat): the full-precision cell, as an
/// integer of 52 bits (one more when a coordinate sits on its range's upper
/// end, as in Redis).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode(lon, lat, STEP_MAX).map(align52)
}

/// The cell's bits shifted to the top of 52 bits: the lowest score inside it.
pub fn align52(cell: Cell) -> u64 {
    cell.bits << (52 - 2 * cell.step as u32)
}

/// The area a cell covers, within the ranges scores use.
pub fn decode(cell: Cell) -> Area {
    let step_cells = (1u64 << cell.step) as f64;
    let lat_cell = gather(cell.bits);
    let lon_cell = gather(cell.bits >> 1);
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let lon_scale = LON_RANGE.max - LON_RANGE.min;
    // `cell + 1` is 32-bit arithmetic in Redis; it only wraps for the
    // garbage cells of scores GEOADD never wrote.
    Area {
        lat: Interval {
            min: LAT_RANGE.min + (lat_cell as f64 / step_cells) * lat_scale,
            max: LAT_RANGE.min + (lat_cell.wrapping_add(1) as f64 / step_cells) * lat_scale,
        },
        lon: Interval {
            min: LON_RANGE.min + (lon_cell as f64 / step_cells) * lon_scale,
            max: LON_RANGE.min + (lon_cell.wrapping_add(1) as f64 / step_cells) * lon_scale,
        },
    }
}

/// The centre of an area, clamped to the encodable band: (lon, lat).
pub fn center(area: &Area) -> (f64, f64) {
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The position a score stands for: the centre of its full-precision cell.
pub fn decode_score(score: f64) -> (f64, f64) {
    center(&decode(Cell {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    }))
}

/// Adds `delta` (±1) to the dilated coordinate at the bit positions of
/// `mask` (the longitude's odd bits or the latitude's even bits), wrapping
/// around within the cell's `2 * step` bits; the other coordinate's bits are
/// kept as they are.
fn shift(cell: Cell, mask: u64, delta: i8) -> Cell {
    let width_mask = mask >> (64 - 2 * cell.step as u32);
    let other = cell.bits & !mask;
    let coord = cell.bits & mask;
    // Filling the other coordinate's positions with ones lets a carry run
    // through them; a borrow runs through zeros.
    let moved = if delta > 0 {
        (coord | !width_mask).wrapping_add(1)
    } else {
        (coord & width_mask).wrapping_sub(1)
    } & width_mask;
    Cell {
        bits: moved | other,
        step: cell.step,
    }
}

const LON_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;
const LAT_BITS: u64 = 0x5555_5555_5555_5555;

/// The eight cells around `cell`, in the order searches visit them: north,
/// south, east, west, north-east, north-west, south-east, south-west.
pub fn neighbours(cell: Cell) -> [Cell; 8] {
    let east = shift(cell, LON_BITS, 1);
    let west = shift(cell, LON_BITS, -1);
    [
        shift(cell, LAT_BITS, 1),
        shift(cell, LAT_BITS, -1),
        east,
        west,
        shift(east, LAT_BITS, 1),
        shift(west, LAT_BITS, 1),
        shift(east, LAT_BITS, -1),
        shift(west, LAT_BITS, -1),
    ]
}

/// Distance in meters along a meridian between two latitudes.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle distance in meters (haversine) between two positions.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    // Same meridian: the formula reduces to the latitude difference.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// What a search covers, around its centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extent {
    /// A circle of this radius (in the query's unit).
    Radius(f64),
    /// An axis-aligned box of this width and height (in the query's unit).
    Box { width: f64, height: f64 },
}

/// A search shape: centre (lon, lat), extent, and the query unit's size in meters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    pub extent: Extent,
    pub to_meters: f64,
}

/// The cells a search reads: the centre's cell and its neighbours, some
/// skipped when they lie entirely outside the shape's bounding box.
#[derive(Clone, Copy, Debug)]
pub struct Cover {
    pub center: Cell,
    pub neighbours: [Option<Cell>; 8],
}

impl Cover {
    /// The cells in reading order: the centre, then the neighbours.
    pub fn cells(&self) -> [Option<Cell>; 9] {
        let mut out = [None; 9];
        out[0] = Some(self.center);
        out[1..].copy_from_slice(&self.neighbours);
        out
    }
}

impl Shape {
    /// The extent's half height and half width in meters.
    fn half_extent_m(&self) -> (f64, f64) {
        match self.extent {
            Extent::Radius(r) => (self.to_meters * r, self.to_meters * r),
            Extent::Box { width, height } => (
                self.to_meters * (height / 2.0),
                self.to_meters * (width / 2.0),
            ),
        }
    }

    /// The bounding box [min lon, min lat, max lon, max lat]. Meridians
    /// converge towards the pole, so the box is widest on its side nearest
    /// the equator.
    pub fn bounding_box(&self) -> [f64; 4] {
        let (height, width) = self.half_extent_m();
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let lon_delta_bottom =
            rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let lon_delta = if self.lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        ]
    }

    /// The distance from the centre to the shape's farthest edge, in meters.
    fn reach_m(&self) -> f64 {
        let r = match self.extent {
            Extent::Radius(r) => r,
            Extent::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        r * self.to_meters
    }

    /// The cells that together cover the shape.
    pub fn cover(&self) -> Cover {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let mut step = estimate_step(self.reach_m(), self.lat);
        let (mut center, mut around) = self.cells_at(step);
        // A neighbour too small to reach the box's edge: one step coarser.
        let edge_missed = {
            let north = decode(around[0]);
            let south = decode(around[1]);
            let east = decode(around[2]);
            let west = decode(around[3]);
            north.lat.max < max_lat
                || south.lat.min > min_lat
                || east.lon.max < max_lon
                || west.lon.min > min_lon
        };
        if step > 1 && edge_missed {
            step -= 1;
            (center, around) = self.cells_at(step);
        }
        let mut neighbours = around.map(Some);
        if step >= 2 {
            // Neighbours entirely beyond the bounding box are skipped
            // (indexes: 0 N, 1 S, 2 E, 3 W, 4 NE, 5 NW, 6 SE, 7 SW).
            let area = decode(center);
            let mut skip = |idx: &[usize]| idx.iter().for_each(|&i| neighbours[i] = None);
            if area.lat.min < min_lat {
                skip(&[1, 7, 6]);
            }
            if area.lat.max > max_lat {
                skip(&[0, 4, 5]);
            }
            if area.lon.min < min_lon {
                skip(&[3, 7, 5]);
            }
            if area.lon.max > max_lon {
                skip(&[2, 6, 4]);
            }
        }
        Cover { center, neighbours }
    }

    /// The centre's cell at `step` and its neighbours. The centre is always
    /// encodable: callers validate coordinates, and decoded members are clamped.
    fn cells_at(&self, step: u8) -> (Cell, [Cell; 8]) {
        let center = encode(self.lon, self.lat, step).unwrap_or(Cell { bits: 0, step });
        (center, neighbours(center))
    }

    /// Whether the position a score stands for is inside the shape: its
    /// (lon, lat) and distance from the centre in meters, or `None`.
    pub fn contains(&self, score: f64) -> Option<(f64, f64, f64)> {
        let (lon, lat) = decode_score(score);
        match self.extent {
            Extent::Radius(r) => {
                let d = distance(self.lon, self.lat, lon, lat);
                // Written as Redis's test: a NaN distance is not "too far".
                if d > r * self.to_meters {
                    None
                } else {
                    Some((lon, lat, d))
                }
            }
            Extent::Box { width, height } => {
                // The cheap latitude test first, as Redis does.
                if lat_distance(lat, self.lat) > height * self.to_meters / 2.0 {
                    return None;
                }
                if distance(lon, lat, self.lon, lat) > width * self.to_meters / 2.0 {
                    return None;
                }
                Some((lon, lat, distance(self.lon, self.lat, lon, lat)))
            }
        }
    }
}

/// The coarsest step whose cells still keep a search of `range_m` meters
/// around latitude `lat` within the centre cell and its neighbours.
pub fn estimate_step(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    // Keep the range inside the neighbours in most cases.
    step -= 2;
    // Cells narrow towards the poles.
    if lat.abs() > 66.0 {
        step -= 1;
        if lat.abs() > 80.0 {
            step -= 1;
        }
    }
    step.clamp(1, STEP_MAX as i32) as u8
}

/// The standard 11-character geohash of a position (latitudes over ±90, not
/// the ±85 band scores use; the last character stands for bits Redis does
/// not have and is always '0').
pub fn geohash_text(lon: f64, lat: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let cell = encode_in(
        Interval {
            min: -180.0,
            max: 180.0,
        },
        Interval {
            min: -90.0,
            max: 90.0,
        },
        lon,
        lat,
        STEP_MAX,
    )
    .unwrap_or(Cell {
        bits: 0,
        step: STEP_MAX,
    });
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (cell.bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_gather_are_inverse() {
        for v in [0u32, 1, 2, 0xFFFF_FFFF, 0x1234_5678, 1 << 26, (1 << 26) - 1] {
            assert_eq!(gather(spread(v)), v);
            assert_eq!(spread(v) & !0x5555_5555_5555_5555, 0);
        }
    }

    #[test]
    fn palermo_encodes_like_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo"; ZSCORE Sicily Palermo
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909));
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&geohash_text(lon, lat), b"sqc8b49rny0");
    }

    #[test]
    fn out_of_band_positions_do_not_encode() {
        assert_eq!(score_of(180.1, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
        assert_eq!(score_of(f64::NAN, 0.0), None);
    }

    #[test]
    fn neighbours_wrap_around_the_cell_grid() {
        let c = Cell { bits: 0, step: 2 };
        let n = neighbours(c);
        // West of longitude cell 0 is cell 3 (odd bits 1 and 3 set).
        assert_eq!(n[3].bits, 0b1010);
        // South of latitude cell 0 is cell 3 (even bits 0 and 2 set).
        assert_eq!(n[1].bits, 0b0101);
        assert_eq!(n[2].bits, 0b0010);
        assert_eq!(n[0].bits, 0b0001);
    }

    #[test]
    fn double_to_u64_follows_x86_gcc() {
        assert_eq!(c_double_to_u64(1.5), 1);
        assert_eq!(c_double_to_u64(-1.0), u64::MAX);
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_double_to_u64(1e19), 10_000_000_000_000_000_000);
        assert_eq!(c_double_to_u64(1e30), 0);
    }

    #[test]
    fn distance_palermo_catania() {
        let (a, b) = (
            decode_score(3479099956230698.0),
            decode_score(3479447370796909.0),
        );
        let d = distance(a.0, a.1, b.0, b.1);
        assert_eq!(format!("{:.4}", d), "166274.1516");
    }
}
