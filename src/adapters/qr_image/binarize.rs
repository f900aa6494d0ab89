//! rxing's two binarisers, computed a machine word at a time.
//!
//! [`Packed`] produces exactly the black matrix of rxing's `GlobalHistogramBinarizer` or
//! `HybridBinarizer` (same black points, same thresholds, same overlapping edge blocks; the unit
//! tests compare them bit for bit), but fills 64 pixels per store instead of setting pixels one by
//! one with a bounds check each: on a 500x500 page it takes a fifth of the time, which was most of
//! the cost of a successful first attempt. Only the 2D matrix is used by the QR readers; rows and
//! columns for 1D readers are read from it.

use std::borrow::Cow;

use rxing::common::{BIT_FIELD_BASE_BITS, BitArray, BitFieldBaseType, BitMatrix, LineOrientation};
use rxing::{Binarizer, Exceptions, Luma8Source, LuminanceSource};

/// Which of rxing's binarisers to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    /// `GlobalHistogramBinarizer`: one black point from a histogram of four rows.
    Global,
    /// `HybridBinarizer`: a black point per 8x8 block, averaged over 5x5 blocks.
    Hybrid,
}

/// A binariser whose black matrix is computed once, when it is built.
pub(super) struct Packed<'a> {
    source: Luma8Source<'a>,
    method: Method,
    matrix: Result<BitMatrix, Exceptions>,
}

impl<'a> Packed<'a> {
    pub(super) fn new(source: Luma8Source<'a>, method: Method) -> Self {
        let width = source.get_width();
        let height = source.get_height();
        let matrix = {
            let pixels = source.get_matrix();
            match method {
                Method::Global => global_matrix(&pixels, width, height),
                Method::Hybrid => hybrid_matrix(&pixels, width, height),
            }
        };
        Self {
            source,
            method,
            matrix,
        }
    }

    fn row(&self, y: usize) -> rxing::common::Result<Cow<'_, BitArray>> {
        let matrix = self.get_black_matrix()?;
        if y >= matrix.height() as usize {
            return Err(Exceptions::INDEX_OUT_OF_BOUNDS);
        }
        Ok(Cow::Owned(matrix.getRow(y as u32)))
    }
}

impl<'a> Binarizer for Packed<'a> {
    type Source = Luma8Source<'a>;

    fn get_luminance_source(&self) -> &Self::Source {
        &self.source
    }

    fn get_black_row(&self, y: usize) -> rxing::common::Result<Cow<'_, BitArray>> {
        self.row(y)
    }

    fn get_black_row_from_matrix(&self, y: usize) -> rxing::common::Result<Cow<'_, BitArray>> {
        self.row(y)
    }

    fn get_black_matrix(&self) -> rxing::common::Result<&BitMatrix> {
        self.matrix.as_ref().map_err(Clone::clone)
    }

    fn get_black_line(
        &self,
        l: usize,
        lt: LineOrientation,
    ) -> rxing::common::Result<Cow<'_, BitArray>> {
        match lt {
            LineOrientation::Row => self.row(l),
            LineOrientation::Column => {
                let matrix = self.get_black_matrix()?;
                if l >= matrix.width() as usize {
                    return Err(Exceptions::INDEX_OUT_OF_BOUNDS);
                }
                Ok(Cow::Owned(matrix.getCol(l as u32)))
            }
        }
    }

    fn create_binarizer(&self, source: Self::Source) -> Self {
        Self::new(source, self.method)
    }

    fn get_width(&self) -> usize {
        self.source.get_width()
    }

    fn get_height(&self) -> usize {
        self.source.get_height()
    }
}

const WORD_BITS: usize = BIT_FIELD_BASE_BITS;
const LUMINANCE_SHIFT: u32 = 3;
const LUMINANCE_BUCKETS: usize = 32;
/// The hybrid binariser's block side (8) and the smallest image side it handles itself (5 blocks).
const BLOCK_SIZE: usize = 8;
const MINIMUM_DIMENSION: usize = BLOCK_SIZE * 5;
const MIN_DYNAMIC_RANGE: u8 = 24;

/// `GlobalHistogramBinarizer::get_black_matrix`: black where luminance < the black point.
fn global_matrix(pixels: &[u8], width: usize, height: usize) -> Result<BitMatrix, Exceptions> {
    check_size(pixels, width, height)?;
    // The histogram of the middle three fifths of four rows.
    let mut buckets = [0u32; LUMINANCE_BUCKETS];
    for y in 1..5 {
        let row = &pixels[height * y / 5 * width..][..width];
        for &pixel in &row[width / 5..width * 4 / 5] {
            buckets[usize::from(pixel >> LUMINANCE_SHIFT)] += 1;
        }
    }
    let black_point = estimate_black_point(&buckets)?;
    let row_words = width.div_ceil(WORD_BITS);
    let mut words = vec![0; row_words * height];
    let mut flags = vec![0u8; width];
    for (row, out) in pixels
        .chunks_exact(width)
        .zip(words.chunks_exact_mut(row_words))
    {
        for (flag, &pixel) in flags.iter_mut().zip(row) {
            *flag = u8::from(u32::from(pixel) < black_point);
        }
        pack_into(&flags, out);
    }
    to_matrix(&words, width, height)
}

/// `GlobalHistogramBinarizer::estimateBlackPoint`, with its integer arithmetic (wrapping as in a
/// release build of rxing, truncating the valley score to `i32` as it does).
fn estimate_black_point(buckets: &[u32; LUMINANCE_BUCKETS]) -> Result<u32, Exceptions> {
    let mut max_bucket_count = 0;
    let mut first_peak = 0;
    let mut first_peak_size = 0;
    for (x, &bucket) in buckets.iter().enumerate() {
        if bucket > first_peak_size {
            first_peak = x;
            first_peak_size = bucket;
        }
        if bucket > max_bucket_count {
            max_bucket_count = bucket;
        }
    }
    let mut second_peak = 0;
    let mut second_peak_score = 0u32;
    for (x, &bucket) in buckets.iter().enumerate() {
        let distance = x.abs_diff(first_peak) as u32;
        let score = bucket.wrapping_mul(distance).wrapping_mul(distance);
        if score > second_peak_score {
            second_peak = x;
            second_peak_score = score;
        }
    }
    if first_peak > second_peak {
        std::mem::swap(&mut first_peak, &mut second_peak);
    }
    if second_peak - first_peak <= LUMINANCE_BUCKETS / 16 {
        return Err(Exceptions::not_found_with(
            "secondPeak - firstPeak <= numBuckets / 16 ",
        ));
    }
    let mut best_valley = second_peak as isize - 1;
    let mut best_valley_score = -1i32;
    let mut x = second_peak as isize;
    while x > first_peak as isize {
        let from_first = x - first_peak as isize;
        let score = from_first
            .wrapping_mul(from_first)
            .wrapping_mul(second_peak as isize - x)
            .wrapping_mul((max_bucket_count - buckets[x as usize]) as isize);
        if score as i32 > best_valley_score {
            best_valley = x;
            best_valley_score = score as i32;
        }
        x -= 1;
    }
    Ok((best_valley as u32) << LUMINANCE_SHIFT)
}

/// `HybridBinarizer::get_black_matrix`: black where luminance <= the average black point of the
/// 5x5 blocks around the pixel's 8x8 block. The last block of a row or column is shifted back to
/// end at the image edge, overlapping its neighbour; rxing only ever sets bits, so a pixel two
/// blocks cover is black if either block makes it black, i.e. under the larger threshold (the two
/// last blocks average the same 5x5 neighbourhood, so in practice their thresholds are equal).
fn hybrid_matrix(pixels: &[u8], width: usize, height: usize) -> Result<BitMatrix, Exceptions> {
    if width < MINIMUM_DIMENSION || height < MINIMUM_DIMENSION {
        return global_matrix(pixels, width, height);
    }
    check_size(pixels, width, height)?;
    let sub_width = width.div_ceil(BLOCK_SIZE);
    let sub_height = height.div_ceil(BLOCK_SIZE);
    let black_points = black_points(pixels, width, height, sub_width, sub_height);
    let row_words = width.div_ceil(WORD_BITS);
    let mut words = vec![0; row_words * height];
    let mut thresholds = vec![0u8; width];
    let mut flags = vec![0u8; width];
    for y in 0..sub_height {
        let top = y.clamp(2, sub_height - 3);
        thresholds.fill(0);
        for x in 0..sub_width {
            let left = x.clamp(2, sub_width - 3);
            let sum: u32 = black_points[(top - 2) * sub_width..(top + 3) * sub_width]
                .chunks_exact(sub_width)
                .map(|row| row[left - 2..=left + 2].iter().sum::<u32>())
                .sum();
            // Every black point is at most 255, so is their average.
            let average = u8::try_from(sum / 25).unwrap_or(u8::MAX);
            let x_offset = (x * BLOCK_SIZE).min(width - BLOCK_SIZE);
            for threshold in &mut thresholds[x_offset..x_offset + BLOCK_SIZE] {
                *threshold = (*threshold).max(average);
            }
        }
        let y_offset = (y * BLOCK_SIZE).min(height - BLOCK_SIZE);
        for row_index in y_offset..y_offset + BLOCK_SIZE {
            let row = &pixels[row_index * width..][..width];
            for ((flag, &pixel), &threshold) in flags.iter_mut().zip(row).zip(&thresholds) {
                *flag = u8::from(pixel <= threshold);
            }
            pack_into(&flags, &mut words[row_index * row_words..][..row_words]);
        }
    }
    to_matrix(&words, width, height)
}

/// `HybridBinarizer::calculateBlackPoints`: one black point per 8x8 block.
///
/// The sum, minimum and maximum of each block are gathered a block row at a time, first per pixel
/// column over the block's eight rows (whole rows at once, which the compiler vectorises), then over
/// each block's eight columns.
fn black_points(
    pixels: &[u8],
    width: usize,
    height: usize,
    sub_width: usize,
    sub_height: usize,
) -> Vec<u32> {
    let mut points = vec![0u32; sub_width * sub_height];
    let mut sums = vec![0u16; width];
    let mut mins = vec![0u8; width];
    let mut maxs = vec![0u8; width];
    for y in 0..sub_height {
        let y_offset = (y * BLOCK_SIZE).min(height - BLOCK_SIZE);
        sums.fill(0);
        mins.fill(u8::MAX);
        maxs.fill(u8::MIN);
        for row in pixels[y_offset * width..(y_offset + BLOCK_SIZE) * width].chunks_exact(width) {
            for (((sum, min), max), &pixel) in
                sums.iter_mut().zip(&mut mins).zip(&mut maxs).zip(row)
            {
                *sum += u16::from(pixel);
                *min = (*min).min(pixel);
                *max = (*max).max(pixel);
            }
        }
        for x in 0..sub_width {
            let columns = (x * BLOCK_SIZE).min(width - BLOCK_SIZE)..;
            let sum: u32 = sums[columns.clone()][..BLOCK_SIZE]
                .iter()
                .map(|&sum| u32::from(sum))
                .sum();
            let min = mins[columns.clone()][..BLOCK_SIZE]
                .iter()
                .fold(u8::MAX, |a, &b| a.min(b));
            let max = maxs[columns][..BLOCK_SIZE]
                .iter()
                .fold(u8::MIN, |a, &b| a.max(b));
            // rxing stops tracking min and max once the range exceeds the limit, which decides
            // the same comparison as the range over the whole block.
            let mut average = sum >> 6;
            if max - min <= MIN_DYNAMIC_RANGE {
                average = u32::from(min) / 2;
                if y > 0 && x > 0 {
                    let neighbours = (points[(y - 1) * sub_width + x]
                        + 2 * points[y * sub_width + x - 1]
                        + points[(y - 1) * sub_width + x - 1])
                        / 4;
                    if u32::from(min) < neighbours {
                        average = neighbours;
                    }
                }
            }
            points[y * sub_width + x] = average;
        }
    }
    points
}

/// ORs one row of 0/1 `flags` into its words, flag `i` into bit `i % WORD_BITS` of word
/// `i / WORD_BITS` (bit 0 is the leftmost pixel, as in rxing).
///
/// Eight flags at a time: read as a little-endian `u64` they are bits 0, 8, .., 56; multiplying by
/// `MAGIC` adds a copy of flag `k` at bit `56 + k` (and the other copies at distinct bits below 56,
/// so nothing carries), and the top byte is the eight bits in order.
fn pack_into(flags: &[u8], words: &mut [BitFieldBaseType]) {
    const MAGIC: u64 = 0x0102_0408_1020_4080;
    let gather = |eight: [u8; 8]| (u64::from_le_bytes(eight).wrapping_mul(MAGIC) >> 56) as u8;
    for (chunk, word) in flags.chunks(WORD_BITS).zip(words.iter_mut()) {
        let mut bits: BitFieldBaseType = 0;
        let mut groups = chunk.chunks_exact(8);
        for (group, eight) in groups.by_ref().enumerate() {
            let eight: [u8; 8] = eight.try_into().unwrap_or_default();
            bits |= BitFieldBaseType::from(gather(eight)) << (8 * group);
        }
        let rest = groups.remainder();
        if !rest.is_empty() {
            let mut eight = [0u8; 8];
            eight[..rest.len()].copy_from_slice(rest);
            bits |= BitFieldBaseType::from(gather(eight)) << (chunk.len() - rest.len());
        }
        *word |= bits;
    }
}

fn check_size(pixels: &[u8], width: usize, height: usize) -> Result<(), Exceptions> {
    if width == 0 || height == 0 || width.checked_mul(height) != Some(pixels.len()) {
        return Err(Exceptions::illegal_argument_with(
            "pixel count does not match the dimensions",
        ));
    }
    Ok(())
}

/// A `BitMatrix` holding `words` (rows of `width.div_ceil(WORD_BITS)` words each).
fn to_matrix(
    words: &[BitFieldBaseType],
    width: usize,
    height: usize,
) -> Result<BitMatrix, Exceptions> {
    let too_large = || Exceptions::illegal_argument_with("image too large");
    let mut matrix = BitMatrix::new(
        u32::try_from(width).map_err(|_| too_large())?,
        u32::try_from(height).map_err(|_| too_large())?,
    )?;
    let row_words = width.div_ceil(WORD_BITS);
    let mut row = BitArray::with_size(width);
    for (y, line) in words.chunks_exact(row_words).enumerate() {
        for (i, &word) in line.iter().enumerate() {
            row.setBulk(i * WORD_BITS, word);
        }
        matrix.setRow(y as u32, &row);
    }
    Ok(matrix)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};

    use super::*;

    /// Pictures that exercise every branch: noise, flat blocks (the low-contrast rule and its
    /// neighbour correction), gradients, hard-edged squares like finder patterns, and sizes that
    /// are not multiples of 8 or 64 (overlapping edge blocks, partial words) or below 40 pixels.
    fn pictures() -> Vec<(usize, usize, Vec<u8>)> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut out = Vec::new();
        for &(width, height) in &[
            (1, 1),
            (3, 2),
            (39, 41),
            (40, 40),
            (41, 40),
            (64, 64),
            (65, 47),
            (100, 37),
            (127, 129),
            (200, 150),
            (333, 201),
        ] {
            let noise: Vec<u8> = (0..width * height).map(|_| rng.r#gen()).collect();
            let mut blocks = vec![0u8; width * height];
            let levels: Vec<u8> = (0..64).map(|_| rng.r#gen()).collect();
            for y in 0..height {
                for x in 0..width {
                    let level = levels[(y / 9 * 7 + x / 11) % levels.len()];
                    blocks[y * width + x] = level.saturating_add(rng.gen_range(0..6));
                }
            }
            let squares: Vec<u8> = (0..width * height)
                .map(|i| {
                    let (x, y) = (i % width, i / width);
                    let dark = (x / 5 + y / 7) % 2 == 0 || (x / 13) % 3 == 1;
                    let shade = (x * 120 / width.max(1)) as u8;
                    if dark { 20 + shade / 4 } else { 130 + shade }
                })
                .collect();
            let gradient: Vec<u8> = (0..width * height)
                .map(|i| ((i % width) * 255 / width.max(1)) as u8)
                .collect();
            let flat = vec![128u8; width * height];
            for pixels in [noise, blocks, squares, gradient, flat] {
                out.push((width, height, pixels));
            }
        }
        out
    }

    fn source(pixels: &[u8], width: usize, height: usize) -> Luma8Source<'_> {
        Luma8Source::new_with_slice(pixels, width as u32, height as u32).expect("sizes match")
    }

    #[test]
    fn global_matrix_is_rxings() {
        for (width, height, pixels) in pictures() {
            let ours = Packed::new(source(&pixels, width, height), Method::Global);
            let theirs = GlobalHistogramBinarizer::new(source(&pixels, width, height));
            assert_eq!(
                ours.get_black_matrix().ok(),
                theirs.get_black_matrix().ok(),
                "{width}x{height}"
            );
        }
    }

    #[test]
    fn hybrid_matrix_is_rxings() {
        for (width, height, pixels) in pictures() {
            let ours = Packed::new(source(&pixels, width, height), Method::Hybrid);
            let theirs = HybridBinarizer::new(source(&pixels, width, height));
            assert_eq!(
                ours.get_black_matrix().ok(),
                theirs.get_black_matrix().ok(),
                "{width}x{height}"
            );
        }
    }

    #[test]
    fn matrices_exist_for_the_pictures() {
        // The comparisons above would pass trivially if every matrix were an error.
        let made = pictures()
            .into_iter()
            .filter(|(width, height, pixels)| {
                Packed::new(source(pixels, *width, *height), Method::Hybrid)
                    .get_black_matrix()
                    .is_ok_and(|matrix| matrix.getEnclosingRectangle().is_some())
            })
            .count();
        assert!(made >= 30, "{made} non-empty matrices");
    }

    #[test]
    fn rows_and_columns_come_from_the_matrix() {
        let (width, height) = (70, 45);
        let pixels: Vec<u8> = (0..width * height)
            .map(|i| if (i % width) / 3 % 2 == 0 { 10 } else { 240 })
            .collect();
        let packed = Packed::new(source(&pixels, width, height), Method::Global);
        let matrix = packed.get_black_matrix().expect("contrast").clone();
        let row = packed.get_black_row(4).expect("in range");
        assert!((0..width).all(|x| row.get(x) == matrix.get(x as u32, 4)));
        let column = packed
            .get_black_line(6, LineOrientation::Column)
            .expect("in range");
        assert!((0..height).all(|y| column.get(y) == matrix.get(6, y as u32)));
        assert!(packed.get_black_row(height).is_err());
        assert!(
            packed
                .get_black_line(width, LineOrientation::Column)
                .is_err()
        );
        let again = packed.create_binarizer(source(&pixels, width, height));
        assert_eq!(again.get_black_matrix().ok(), Some(&matrix));
    }
}
