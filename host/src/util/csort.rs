//! The two C sorts whose orders Redis replies show, reimplemented so that
//! elements that compare equal come out in the same order as in Redis 7.0:
//!
//! - [`glibc_qsort`]: glibc's `qsort`, a top-down merge sort (stable; the
//!   left run wins ties) — what Redis's GEO commands sort a full result with.
//! - [`partial_qsort`]: Redis's `pqsort`, a Bentley–McIlroy quicksort that
//!   only recurses into partitions overlapping the wanted rank range — what
//!   GEO commands use when COUNT keeps fewer elements than were found.
//!
//! Both take a C-style comparator (negative, zero, positive) and follow the
//! original control flow exactly, so even an inconsistent comparator (one fed
//! NaN) gives the same permutation.

use std::cmp::min;

/// Sorts `v` as glibc's `qsort` does when it can allocate its buffer: merge
/// sort splitting at `n / 2`, merging with "take the left element unless it
/// compares greater".
pub fn glibc_qsort<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    // Sort a permutation (glibc sorts pointers for large elements too), then
    // apply it.
    let mut idx: Vec<usize> = (0..n).collect();
    let mut tmp = vec![0usize; n];
    merge_sort(&mut idx, &mut tmp, &|a: &usize, b: &usize| {
        cmp(&v[*a], &v[*b])
    });
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(idx.into_iter().filter_map(|i| slots[i].take()));
}

fn merge_sort(b: &mut [usize], tmp: &mut [usize], cmp: &impl Fn(&usize, &usize) -> i32) {
    let n = b.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (left, right) = b.split_at_mut(n1);
        merge_sort(left, tmp, cmp);
        merge_sort(right, tmp, cmp);
    }
    let (mut i, mut j, mut k) = (0, n1, 0);
    while i < n1 && j < n {
        if cmp(&b[i], &b[j]) <= 0 {
            tmp[k] = b[i];
            i += 1;
        } else {
            tmp[k] = b[j];
            j += 1;
        }
        k += 1;
    }
    while i < n1 {
        tmp[k] = b[i];
        i += 1;
        k += 1;
    }
    // What is left of the right run is already in place.
    b[..k].copy_from_slice(&tmp[..k]);
}

/// Sorts `v` enough that ranks `lrange..=rrange` hold the elements a full sort
/// would put there, as Redis's `pqsort(v, n, size, cmp, lrange, rrange)`.
pub fn partial_qsort<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> i32, lrange: usize, rrange: usize) {
    pqsort_rec(v, 0, v.len(), &cmp, lrange, rrange);
}

/// Swaps the `n` elements starting at `a` with the `n` starting at `b`, pairwise.
fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for k in 0..n {
        v.swap(a + k, b + k);
    }
}

/// The median of three positions, with the original's comparison order.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

/// Sorts the `n` elements at `base..base + n` (absolute positions, so the
/// wanted range can be compared with the partitions).
fn pqsort_rec<T>(
    v: &mut [T],
    mut base: usize,
    mut n: usize,
    cmp: &impl Fn(&T, &T) -> i32,
    lrange: usize,
    rrange: usize,
) {
    loop {
        if n < 7 {
            // Insertion sort.
            for m in base + 1..base + n {
                let mut l = m;
                while l > base && cmp(&v[l - 1], &v[l]) > 0 {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = base + n / 2;
        if n > 7 {
            let mut pl = base;
            let mut pn = base + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        // The pivot sits at `base`; elements equal to it gather at both ends
        // (pa, pd) and are swapped into the middle afterwards.
        v.swap(base, pm);
        let (mut pa, mut pb) = (base + 1, base + 1);
        // pc and pd are kept one past their C positions so they never go below zero.
        let (mut pc, mut pd) = (base + n, base + n);
        loop {
            while pb < pc {
                let r = cmp(&v[pb], &v[base]);
                if r > 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb < pc {
                let r = cmp(&v[pc - 1], &v[base]);
                if r < 0 {
                    break;
                }
                if r == 0 {
                    v.swap(pc - 1, pd - 1);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb >= pc {
                break;
            }
            v.swap(pb, pc - 1);
            pb += 1;
            pc -= 1;
        }
        let pn = base + n;
        let r = min(pa - base, pb - pa);
        vecswap(v, base, pb - r, r);
        let r = min(pd - pc, pn - pd);
        vecswap(v, pb, pn - r, r);
        // Recurse only into partitions that overlap the wanted ranks.
        let wanted = |start: usize, len: usize| !(rrange < start || lrange > start + len - 1);
        let left = pb - pa;
        if left > 1 && wanted(base, left) {
            pqsort_rec(v, base, left, cmp, lrange, rrange);
        }
        let right = pd - pc;
        if right > 1 && wanted(pn - right, right) {
            base = pn - right;
            n = right;
            continue;
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c_cmp(a: &(i32, usize), b: &(i32, usize)) -> i32 {
        (a.0 > b.0) as i32 - (a.0 < b.0) as i32
    }

    /// Deterministic pseudo-random numbers: the top bits of a Weyl sequence.
    fn noise(i: usize, seed: u64) -> u64 {
        ((i as u64 + 1)
            .wrapping_mul(seed | 1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15))
            >> 40
    }

    #[test]
    fn qsort_is_a_stable_sort() {
        for n in [0usize, 1, 2, 3, 7, 8, 41, 100, 1000] {
            let mut v: Vec<(i32, usize)> = (0..n).map(|i| ((noise(i, 3) % 7) as i32, i)).collect();
            let mut expect = v.clone();
            expect.sort_by_key(|e| e.0);
            glibc_qsort(&mut v, c_cmp);
            assert_eq!(v, expect);
        }
    }

    #[test]
    fn partial_sort_fixes_the_wanted_ranks() {
        for n in [1usize, 5, 6, 7, 8, 40, 41, 100, 500] {
            for round in 0..20u64 {
                let v: Vec<(i32, usize)> = (0..n)
                    .map(|i| ((noise(i, round * 7 + 1) % 50) as i32, i))
                    .collect();
                let mut full: Vec<i32> = v.iter().map(|e| e.0).collect();
                full.sort();
                let k = (noise(n, round + 11) as usize % n) + 1;
                let mut p = v.clone();
                partial_qsort(&mut p, c_cmp, 0, k - 1);
                let got: Vec<i32> = p[..k].iter().map(|e| e.0).collect();
                assert_eq!(got, full[..k], "n={n} k={k}");
                let mut all: Vec<usize> = p.iter().map(|e| e.1).collect();
                all.sort();
                assert_eq!(all, (0..n).collect::<Vec<_>>());
            }
        }
    }
}
