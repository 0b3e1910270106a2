//! A minimal PNG decoder (8-bit RGB/RGBA, not interlaced: what Chromium writes), enough to
//! look at a screenshot's pixels.

use std::io::Read;

/// Decoded pixels, RGB per pixel, row-major.
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<[u8; 3]>,
}

pub fn decode(bytes: &[u8]) -> Result<Image, String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !bytes.starts_with(SIGNATURE) {
        return Err("not a PNG file".into());
    }
    let mut pos = SIGNATURE.len();
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let body = bytes.get(pos + 8..pos + 8 + len).ok_or("truncated chunk")?;
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(body[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(body[4..8].try_into().unwrap()) as usize;
                let (depth, colour, interlace) = (body[8], body[9], body[12]);
                channels = match (depth, colour, interlace) {
                    (8, 2, 0) => 3,
                    (8, 6, 0) => 4,
                    other => return Err(format!("unsupported PNG layout {other:?}")),
                };
            }
            b"IDAT" => idat.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    if channels == 0 {
        return Err("no IHDR chunk".into());
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(idat.as_slice())
        .read_to_end(&mut raw)
        .map_err(|e| format!("bad image data: {e}"))?;
    let stride = width * channels;
    if raw.len() != height * (stride + 1) {
        return Err(format!(
            "expected {} bytes of scanlines, got {}",
            height * (stride + 1),
            raw.len()
        ));
    }
    let mut previous = vec![0u8; stride];
    let mut rgb = Vec::with_capacity(width * height);
    for y in 0..height {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let (filter, data) = (line[0], &line[1..]);
        let mut current = vec![0u8; stride];
        for x in 0..stride {
            let a = if x >= channels {
                current[x - channels]
            } else {
                0
            };
            let b = previous[x];
            let c = if x >= channels {
                previous[x - channels]
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                f => return Err(format!("unknown filter {f} on row {y}")),
            };
            current[x] = data[x].wrapping_add(predicted);
        }
        rgb.extend(current.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        previous = current;
    }
    Ok(Image { width, height, rgb })
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

impl Image {
    /// Pixels within `tolerance` (per channel) of `colour`.
    pub fn count_near(&self, colour: [u8; 3], tolerance: u8) -> usize {
        self.rgb
            .iter()
            .filter(|p| {
                p.iter()
                    .zip(colour)
                    .all(|(&a, b)| a.abs_diff(b) <= tolerance)
            })
            .count()
    }

    /// Number of distinct colours.
    pub fn distinct_colours(&self) -> usize {
        let mut v: Vec<[u8; 3]> = self.rgb.clone();
        v.sort_unstable();
        v.dedup();
        v.len()
    }

    /// Share of pixels that differ from the most common colour (the background).
    pub fn foreground_share(&self) -> f64 {
        let mut v: Vec<[u8; 3]> = self.rgb.clone();
        v.sort_unstable();
        let mut best = 0;
        let mut run = 0;
        for i in 0..v.len() {
            run = if i > 0 && v[i] == v[i - 1] {
                run + 1
            } else {
                1
            };
            best = best.max(run);
        }
        1.0 - best as f64 / v.len().max(1) as f64
    }
}

/// A 3×2 RGB image written with each scanline filter, decoded back.
#[test]
fn decodes_every_filter() {
    use std::io::Write;
    let pixels: [[u8; 3]; 6] = [
        [10, 20, 30],
        [200, 100, 50],
        [0, 255, 1],
        [7, 7, 7],
        [90, 80, 70],
        [255, 0, 128],
    ];
    for filter in 0..=4u8 {
        let mut raw = Vec::new();
        let mut previous = [0u8; 9];
        for row in pixels.chunks(3) {
            let current: Vec<u8> = row.iter().flatten().copied().collect();
            raw.push(filter);
            for x in 0..9 {
                let a = if x >= 3 { current[x - 3] } else { 0 };
                let (b, c) = (previous[x], if x >= 3 { previous[x - 3] } else { 0 });
                let predicted = match filter {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    _ => paeth(a, b, c),
                };
                raw.push(current[x].wrapping_sub(predicted));
            }
            previous.copy_from_slice(&current);
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&raw).unwrap();
        let idat = z.finish().unwrap();
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], body: &[u8]| {
            png.extend((body.len() as u32).to_be_bytes());
            png.extend(kind);
            png.extend(body);
            png.extend([0u8; 4]); // CRC is not checked
        };
        chunk(b"IHDR", &[0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
        chunk(b"IDAT", &idat);
        chunk(b"IEND", &[]);
        let image = decode(&png).unwrap();
        assert_eq!((image.width, image.height), (3, 2));
        assert_eq!(image.rgb, pixels.to_vec(), "filter {filter}");
        assert_eq!(image.distinct_colours(), 6);
    }
}
