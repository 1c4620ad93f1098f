//! Splitting a leaf's rows: a stable partition of its segment of the row
//! index into the rows going left, then those going right. Stability keeps
//! every leaf's rows ascending, so the histogram kernel reads bins in
//! address order.

use rayon::prelude::*;

/// Rows per partition task: big enough to amortise the hand-off.
const PARTITION_CHUNK: usize = 1 << 14;

/// Stable partition of `rows` into those going left (first) and right;
/// returns the number going left. Chunks are partitioned in parallel into
/// the scratch buffers, then copied back in chunk order.
pub fn partition(
    rows: &mut [u32],
    scratch_left: &mut [u32],
    scratch_right: &mut [u32],
    col: &[u8],
    bin: u8,
    missing_bin: u8,
    default_left: bool,
) -> usize {
    let n = rows.len();
    let one = move |((chunk, l), r): ((&[u32], &mut [u32]), &mut [u32])| {
        let (mut nl, mut nr) = (0, 0);
        // Branch-free: write the row to both sides, advance one.
        for &row in chunk {
            let b = col[row as usize];
            let go_left = (b <= bin) | (default_left & (b == missing_bin));
            l[nl] = row;
            r[nr] = row;
            nl += go_left as usize;
            nr += !go_left as usize;
        }
        nl
    };
    let (sl, sr) = (&mut scratch_left[..n], &mut scratch_right[..n]);
    let counts: Vec<usize> = if n > PARTITION_CHUNK {
        rows.par_chunks(PARTITION_CHUNK)
            .zip(sl.par_chunks_mut(PARTITION_CHUNK))
            .zip(sr.par_chunks_mut(PARTITION_CHUNK))
            .map(one)
            .collect()
    } else {
        vec![one(((&rows[..], &mut sl[..]), &mut sr[..]))]
    };
    let mut pos = 0;
    for (c, &nl) in counts.iter().enumerate() {
        let start = c * PARTITION_CHUNK;
        rows[pos..pos + nl].copy_from_slice(&sl[start..start + nl]);
        pos += nl;
    }
    let n_left = pos;
    for (c, &nl) in counts.iter().enumerate() {
        let start = c * PARTITION_CHUNK;
        let len = (n - start).min(PARTITION_CHUNK) - nl;
        rows[pos..pos + len].copy_from_slice(&sr[start..start + len]);
        pos += len;
    }
    n_left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_across_chunks() {
        let n = 3 * PARTITION_CHUNK + 17;
        let col: Vec<u8> = (0..n).map(|i| (i % 5) as u8).collect();
        let mut rows: Vec<u32> = (0..n as u32).collect();
        let (mut l, mut r) = (vec![0; n], vec![0; n]);
        let nl = partition(&mut rows, &mut l, &mut r, &col, 1, 4, true);
        let want_left: Vec<u32> = (0..n as u32)
            .filter(|&i| matches!(i % 5, 0 | 1 | 4))
            .collect();
        assert_eq!(nl, want_left.len());
        assert_eq!(&rows[..nl], &want_left[..]);
        assert!(rows[nl..].windows(2).all(|w| w[0] < w[1]));
        assert!(rows[nl..].iter().all(|&i| matches!(i % 5, 2 | 3)));
    }
}
