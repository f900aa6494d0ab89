//! Synthetic QR photographs for tests and the benchmark: a `qrcode` symbol rendered through a
//! projective camera model with anti-aliasing, then blur, noise, contrast loss, inversion or clutter.
//! Shared by `tests/qr_image.rs` and `benches/qr_decode.rs` (each uses a subset, hence the allow).
#![allow(dead_code)]

use image::{GrayImage, Luma, imageops};
use qrcode::{Color, EcLevel, QrCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How one synthetic image is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scene {
    /// Pixels per module (fractional values give modules that straddle pixels).
    pub module_px: f32,
    /// Rotation in degrees.
    pub rotate_deg: f32,
    /// Perspective strength: 0 is a flat, square-on view; 0.1 shrinks one edge by about 10 %.
    pub perspective: f32,
    /// Gaussian blur sigma in pixels, 0 for none.
    pub blur_sigma: f32,
    /// Standard deviation of additive noise in grey levels, 0 for none.
    pub noise_sigma: f32,
    /// Grey levels of dark and light modules.
    pub dark: u8,
    pub light: u8,
    /// Light modules dark and dark modules light.
    pub inverted: bool,
    /// Random rectangles around the code on a larger canvas.
    pub clutter: bool,
    /// Seed for noise and clutter.
    pub seed: u64,
}

impl Default for Scene {
    fn default() -> Self {
        Self {
            module_px: 4.0,
            rotate_deg: 0.0,
            perspective: 0.0,
            blur_sigma: 0.0,
            noise_sigma: 0.0,
            dark: 0,
            light: 255,
            inverted: false,
            clutter: false,
            seed: 1,
        }
    }
}

/// The QR symbol for `payload` (byte mode when not alphanumeric) at error correction level `ec`.
pub fn symbol(payload: &[u8], ec: EcLevel) -> QrCode {
    QrCode::with_error_correction_level(payload, ec).expect("test payloads fit in a QR code")
}

/// Renders `code` as a photograph described by `scene`.
pub fn render(code: &QrCode, scene: &Scene) -> GrayImage {
    let modules = code.width();
    let colors = code.to_colors();
    let quiet = 4.0_f32;
    let span = modules as f32 + 2.0 * quiet;
    let code_px = span * scene.module_px;
    // Room for rotation (diagonal) and, with clutter, a busy surrounding scene.
    let side = if scene.clutter {
        (code_px * 2.6).ceil() as u32
    } else {
        (code_px * 1.5).ceil() as u32
    };
    // Unrotated, the code's corner lands on a pixel boundary, so whole-pixel modules stay crisp.
    let centre = (side as f32 / 2.0 - code_px / 2.0).floor() + code_px / 2.0;
    let (sin, cos) = scene.rotate_deg.to_radians().sin_cos();
    let mut rng = StdRng::seed_from_u64(scene.seed);
    let background = f32::from(scene.light);
    let mut canvas = vec![background; (side * side) as usize];
    if scene.clutter {
        for _ in 0..40 {
            let w = rng.gen_range(4..side / 6) as usize;
            let h = rng.gen_range(4..side / 6) as usize;
            let x0 = rng.gen_range(0..side as usize - w);
            let y0 = rng.gen_range(0..side as usize - h);
            let shade = rng.gen_range(0.0..255.0);
            for y in y0..y0 + h {
                for x in x0..x0 + w {
                    canvas[y * side as usize + x] = shade;
                }
            }
        }
    }
    // Supersampling gives the soft edges of a real lens instead of a hard nearest-pixel grid.
    const SUB: usize = 3;
    let code_extent = code_px / 2.0 * 1.05;
    for y in 0..side {
        for x in 0..side {
            let mut ink = 0.0_f32;
            let mut inside = false;
            for sy in 0..SUB {
                for sx in 0..SUB {
                    let px = x as f32 + (sx as f32 + 0.5) / SUB as f32 - centre;
                    let py = y as f32 + (sy as f32 + 0.5) / SUB as f32 - centre;
                    // Undo the rotation, then a projective keystone (rows further down look nearer and larger).
                    let rx = cos * px + sin * py;
                    let ry = -sin * px + cos * py;
                    let depth = 1.0 + scene.perspective * (ry / (code_px / 2.0));
                    let ux = rx / depth;
                    let uy = ry / depth;
                    if ux.abs() > code_extent || uy.abs() > code_extent {
                        continue;
                    }
                    inside = true;
                    let mx = (ux + code_px / 2.0) / scene.module_px - quiet;
                    let my = (uy + code_px / 2.0) / scene.module_px - quiet;
                    let on_symbol = mx >= 0.0
                        && my >= 0.0
                        && (mx as usize) < modules
                        && (my as usize) < modules;
                    if on_symbol && colors[my as usize * modules + mx as usize] == Color::Dark {
                        ink += 1.0;
                    }
                }
            }
            if inside {
                let coverage = ink / (SUB * SUB) as f32;
                canvas[(y * side + x) as usize] = f32::from(scene.light)
                    + coverage * (f32::from(scene.dark) - f32::from(scene.light));
            }
        }
    }
    let mut image = GrayImage::from_fn(side, side, |x, y| {
        Luma([canvas[(y * side + x) as usize].round().clamp(0.0, 255.0) as u8])
    });
    if scene.blur_sigma > 0.0 {
        image = imageops::blur(&image, scene.blur_sigma);
    }
    if scene.noise_sigma > 0.0 {
        for pixel in image.iter_mut() {
            // Sum of uniforms: close enough to Gaussian for a sensor-noise model.
            let gauss: f32 =
                (0..6).map(|_| rng.gen_range(-1.0_f32..1.0)).sum::<f32>() / 2.0_f32.sqrt();
            *pixel = (f32::from(*pixel) + gauss * scene.noise_sigma)
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
    if scene.inverted {
        imageops::invert(&mut image);
    }
    image
}

/// A named distortion family of the benchmark and the tests.
pub struct Condition {
    pub name: &'static str,
    pub scene: Scene,
}

/// The conditions of the generated set, from easy to hard.
pub fn conditions() -> Vec<Condition> {
    let base = Scene::default();
    vec![
        Condition {
            name: "clean-4px",
            scene: base,
        },
        Condition {
            name: "module-1px",
            scene: Scene {
                module_px: 1.0,
                ..base
            },
        },
        Condition {
            name: "module-1.5px",
            scene: Scene {
                module_px: 1.5,
                ..base
            },
        },
        Condition {
            name: "module-2.7px",
            scene: Scene {
                module_px: 2.7,
                ..base
            },
        },
        Condition {
            name: "rotate-30",
            scene: Scene {
                rotate_deg: 30.0,
                ..base
            },
        },
        Condition {
            name: "rotate-77",
            scene: Scene {
                rotate_deg: 77.0,
                module_px: 3.3,
                ..base
            },
        },
        Condition {
            name: "perspective-10",
            scene: Scene {
                perspective: 0.1,
                ..base
            },
        },
        Condition {
            name: "perspective-20-rot",
            scene: Scene {
                perspective: 0.2,
                rotate_deg: 12.0,
                module_px: 5.0,
                ..base
            },
        },
        Condition {
            name: "blur-1",
            scene: Scene {
                blur_sigma: 1.0,
                ..base
            },
        },
        Condition {
            name: "blur-1.5-big",
            scene: Scene {
                blur_sigma: 1.5,
                module_px: 6.0,
                ..base
            },
        },
        Condition {
            name: "noise-25",
            scene: Scene {
                noise_sigma: 25.0,
                ..base
            },
        },
        Condition {
            name: "noise-40",
            scene: Scene {
                noise_sigma: 40.0,
                ..base
            },
        },
        Condition {
            name: "low-contrast",
            scene: Scene {
                dark: 110,
                light: 150,
                ..base
            },
        },
        Condition {
            name: "low-contrast-noise",
            scene: Scene {
                dark: 100,
                light: 150,
                noise_sigma: 6.0,
                ..base
            },
        },
        Condition {
            name: "inverted",
            scene: Scene {
                inverted: true,
                ..base
            },
        },
        Condition {
            name: "inverted-rot",
            scene: Scene {
                inverted: true,
                rotate_deg: 20.0,
                ..base
            },
        },
        Condition {
            name: "clutter",
            scene: Scene {
                clutter: true,
                module_px: 5.0,
                ..base
            },
        },
        Condition {
            name: "clutter-rot-blur",
            scene: Scene {
                clutter: true,
                module_px: 5.0,
                rotate_deg: 15.0,
                blur_sigma: 1.0,
                ..base
            },
        },
    ]
}

/// Payloads of the generated set: short text, a BP1-like Base45 string, a URL, binary bytes.
pub fn payloads() -> Vec<Vec<u8>> {
    let mut binary = StdRng::seed_from_u64(64);
    vec![
        b"HELLO PERMIT 42".to_vec(),
        b"BP1:NCFOXN%TS3DH0YOJ58S S-F4:9VHK+O.T9 AN$9W5OJ4H1 7MNQ*KR86-CVT$E-PA:C2/5HAWAP1R+SKN+KGM".to_vec(),
        b"https://permits.example.gov/verify?id=8f14e45fceea167a5a36dedd4bea2543".to_vec(),
        (0..64).map(|_| binary.r#gen::<u8>()).collect(),
    ]
}
