//! LOLWUT [VERSION v] [args]: Redis's computer art, per version as in Redis
//! 7.0: version 5 draws Georg Nees's "Schotter" in braille dots, version 6 a
//! city skyline in terminal colours, every other version (7, the default)
//! only names the Redis version Ember is compatible with. The drawings follow
//! Redis's geometry (single-precision, the same rounding), so their
//! deterministic parts (Schotter's first two rows) are the same dots; the
//! random parts come from Ember's generator.

use super::table::{flags::*, CommandSpec, Group};
use super::{eq_ic, CmdError, CmdResult, Ctx};
use crate::config::REDIS_COMPAT_VERSION;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new("lolwut", -1, Group::Server, lolwut)
    .flags(READONLY | FAST)
    .doc("5.0.0", "Displays computer art and the Redis version", "")
    .syntax("[VERSION version]")];

/// C's rand(): 0..=RAND_MAX.
fn c_rand() -> i32 {
    (rand::random::<u32>() & 0x7fff_ffff) as i32
}
const RAND_MAX: f32 = 2147483647.0;

/// A canvas of pixels holding small colour numbers.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, bg: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![bg; (width.max(0) as usize) * (height.max(0) as usize)],
        }
    }

    fn set(&mut self, x: i32, y: i32, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    fn get(&self, x: i32, y: i32) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line.
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32, color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let (sx, sy) = (if x1 < x2 { 1 } else { -1 }, if y1 < y2 { 1 } else { -1 });
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square of side `size` centred on (x, y), rotated by `angle`: its
    /// corners are points of the circumscribed circle, a quarter turn apart.
    // Redis divides by the literal 1.4142135623 (a double): the same
    // literal gives the same rounding.
    #[allow(clippy::approx_constant, clippy::excessive_precision)]
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        let size = (size as f64 / 1.4142135623).round() as f32;
        let mut k: f32 = std::f32::consts::FRAC_PI_4 + angle;
        let mut px = [0i32; 4];
        let mut py = [0i32; 4];
        for j in 0..4 {
            px[j] = ((k as f64).sin() * size as f64 + x as f64).round() as i32;
            py[j] = ((k as f64).cos() * size as f64 + y as f64).round() as i32;
            k = (k as f64 + std::f64::consts::FRAC_PI_2) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

fn lolwut(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let (version, args): (String, &[&[u8]]) = if argv.len() >= 3 && eq_ic(argv[1], "version") {
        let v = super::arg_i64(argv[2])?;
        // Redis prints the number as C's %u of an unsigned int.
        (format!("{}.0.0", v as u32), &argv[3..])
    } else {
        (REDIS_COMPAT_VERSION.to_string(), &argv[1..])
    };
    let v = version.as_bytes();
    // "M.x" with x not 9, or the "(M-1).9" pre-releases, as Redis matches them.
    let is = |major: u8, nine: bool| {
        v.first() == Some(&major) && v.get(1) == Some(&b'.') && (v.get(2) == Some(&b'9')) == nine
    };
    let text = if is(b'5', false) || is(b'4', true) {
        schotter(args)?
    } else if is(b'6', false) || is(b'5', true) {
        skyline(args)?
    } else {
        format!("Redis ver. {REDIS_COMPAT_VERSION}\n")
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// The optional integer arguments, each clamped like Redis.
fn long_args(args: &[&[u8]], defaults: &mut [i64], max: &[i64]) -> Result<(), CmdError> {
    for (i, d) in defaults.iter_mut().enumerate() {
        if let Some(a) = args.get(i) {
            *d = super::arg_i64(a)?;
        }
        *d = (*d).clamp(1, max[i]);
    }
    Ok(())
}

/// LOLWUT 5 [columns] [squares per row] [squares per column].
fn schotter(args: &[&[u8]]) -> Result<String, CmdError> {
    let mut p = [66, 8, 12];
    long_args(args, &mut p, &[1000, 200, 200])?;
    let (cols, per_row, per_col) = (p[0] as i32, p[1] as i32, p[2] as i32);
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0f32;
            // Rows further down are rotated and moved more, at random.
            if y > 1 {
                let r = |_| c_rand() as f32 / RAND_MAX / per_col as f32 * y as f32;
                let (mut r1, mut r2, mut r3) = (r(1), r(2), r(3));
                if c_rand() % 2 != 0 {
                    r1 = -r1;
                }
                if c_rand() % 2 != 0 {
                    r2 = -r2;
                }
                if c_rand() % 2 != 0 {
                    r3 = -r3;
                }
                angle = r1;
                sx = (sx as f32 + r2 * side / 3.0) as i32;
                sy = (sy as f32 + r3 * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    // Each braille character shows a 2x4 block of pixels.
    let mut text = String::new();
    let mut y = 0;
    while y < canvas.height {
        let mut x = 0;
        while x < canvas.width {
            let bits = [
                (x, y),
                (x, y + 1),
                (x, y + 2),
                (x + 1, y),
                (x + 1, y + 1),
                (x + 1, y + 2),
                (x, y + 3),
                (x + 1, y + 3),
            ];
            let byte = bits
                .iter()
                .enumerate()
                .filter(|(_, &(px, py))| canvas.get(px, py) != 0)
                .fold(0u32, |b, (i, _)| b | 1 << i);
            text.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
            x += 2;
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
        y += 4;
    }
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(REDIS_COMPAT_VERSION);
    text.push('\n');
    Ok(text)
}

/// One building of the skyline.
struct Skyscraper {
    xoff: i32,
    width: i32,
    height: i32,
    windows: bool,
    color: u8,
}

fn skyscraper(canvas: &mut Canvas, s: &Skyscraper) {
    let starty = canvas.height - 1;
    let endy = starty - s.height + 1;
    let mut y = starty;
    while y >= endy {
        for x in s.xoff..s.xoff + s.width {
            // The roof is four pixels narrower.
            if y == endy && (x <= s.xoff + 1 || x >= s.xoff + s.width - 2) {
                continue;
            }
            let mut color = s.color;
            if s.windows
                && x > s.xoff + 1
                && x < s.xoff + s.width - 2
                && y > endy + 1
                && y < starty - 1
            {
                let relx = x - (s.xoff + 1);
                let rely = y - (endy + 1);
                // Windows two pixels wide, one tall (terminal cells are tall).
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    loop {
                        color = 1 + (c_rand() % 2) as u8;
                        if color != s.color {
                            break;
                        }
                    }
                    if relx % 2 != 0 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, color);
        }
        y -= 1;
    }
}

/// LOLWUT 6 [columns] [rows].
fn skyline(args: &[&[u8]]) -> Result<String, CmdError> {
    let mut p = [80, 20];
    long_args(args, &mut p, &[1000, 1000])?;
    let (cols, rows) = (p[0] as i32, p[1] as i32);
    let mut canvas = Canvas::new(cols, rows, 3);
    // Two passes of windowless buildings, the lighter ones behind.
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += c_rand() % 8;
            let width = 10 + c_rand() % 9;
            let height = if color == 2 {
                canvas.height / 2 + c_rand() % canvas.height / 2
            } else {
                canvas.height / 2 + c_rand() % canvas.height / 3
            };
            let s = Skyscraper {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            skyscraper(&mut canvas, &s);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    // The foreground buildings, with windows.
    let mut offset = -10;
    while offset < canvas.width {
        offset += c_rand() % 8;
        let mut width = 5 + c_rand() % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = canvas.height / 3 + c_rand() % canvas.height / 2;
        let s = Skyscraper {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        skyscraper(&mut canvas, &s);
        offset += width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str("\x1b[");
            text.push_str(escape);
            text.push_str(" \x1b[0m");
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(REDIS_COMPAT_VERSION);
    text.push('\n');
    Ok(text)
}
