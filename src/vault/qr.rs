//! QR codes of otpauth URIs: Unicode half blocks for a terminal, PNG files, and decoding a PNG
//! (such as IAM's QRCodePNG) back to its text.

use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};
use std::io::Cursor;
use zeroize::Zeroizing;

/// Largest PNG accepted for decoding, in pixels per side.
const MAX_DECODE_SIDE: u32 = 8192;

/// Why a QR code could not be made or read (never quotes the payload).
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("the text does not fit in a QR code: {0}")]
    Encode(String),
    /// PNG writing failed.
    #[error("cannot write the PNG: {0}")]
    PngWrite(String),
    /// The file is not a PNG we can read.
    #[error("not a readable PNG image: {0}")]
    PngRead(String),
    /// The image holds no readable QR code.
    #[error("no readable QR code found in the image")]
    NotFound,
    /// The QR code holds something other than UTF-8 text.
    #[error("the QR code does not hold text")]
    NotText,
}

fn code(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| QrError::Encode(e.to_string()))
}

/// The QR code as Unicode half blocks (two modules per character cell), dark on light, with
/// the quiet zone, for a terminal.
pub fn to_terminal(text: &str) -> Result<Zeroizing<String>, QrError> {
    Ok(Zeroizing::new(
        code(text)?
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    ))
}

/// The QR code as a greyscale PNG, `scale` pixels per module, with a 4-module quiet zone.
pub fn to_png(text: &str, scale: u32) -> Result<Vec<u8>, QrError> {
    let qr = code(text)?;
    let modules = qr.width() as u32;
    let quiet = 4;
    let scale = scale.clamp(1, 64);
    let side = (modules + 2 * quiet) * scale;
    let colors = qr.to_colors();
    let mut pixels = vec![255u8; (side * side) as usize];
    for my in 0..modules {
        for mx in 0..modules {
            if colors[(my * modules + mx) as usize] == Color::Dark {
                for dy in 0..scale {
                    let y = (my + quiet) * scale + dy;
                    let row = (y * side) as usize;
                    let x0 = ((mx + quiet) * scale) as usize;
                    pixels[row + x0..row + x0 + scale as usize].fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side, side);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .map_err(|e| QrError::PngWrite(e.to_string()))?;
    w.write_image_data(&pixels)
        .map_err(|e| QrError::PngWrite(e.to_string()))?;
    w.finish().map_err(|e| QrError::PngWrite(e.to_string()))?;
    Ok(out)
}

/// Decode the first QR code found in a PNG image to its text.
pub fn decode_png(png_bytes: &[u8]) -> Result<Zeroizing<String>, QrError> {
    let mut dec = png::Decoder::new(Cursor::new(png_bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| QrError::PngRead(e.to_string()))?;
    let (w, h) = reader.info().size();
    if w == 0 || h == 0 || w > MAX_DECODE_SIDE || h > MAX_DECODE_SIDE {
        return Err(QrError::PngRead(format!("unsupported size {w}x{h}")));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| QrError::PngRead("image too large".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| QrError::PngRead(e.to_string()))?;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(QrError::PngRead("unexpanded palette image".into()));
        }
    };
    let stride = frame.line_size;
    let luma = |x: usize, y: usize| -> u8 {
        let i = y * stride + x * channels;
        let px = &buf[i..i + channels];
        let (v, alpha) = match channels {
            1 => (px[0] as u32, 255),
            2 => (px[0] as u32, px[1] as u32),
            3 => (
                (px[0] as u32 * 299 + px[1] as u32 * 587 + px[2] as u32 * 114) / 1000,
                255,
            ),
            _ => (
                (px[0] as u32 * 299 + px[1] as u32 * 587 + px[2] as u32 * 114) / 1000,
                px[3] as u32,
            ),
        };
        // Transparent pixels count as the (white) background.
        ((v * alpha + 255 * (255 - alpha)) / 255) as u8
    };
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, luma);
    for grid in img.detect_grids() {
        if let Ok((_, text)) = grid.decode() {
            return Ok(Zeroizing::new(text));
        }
    }
    Err(QrError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip() {
        let uri = "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME";
        let png = to_png(uri, 4).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(&*decode_png(&png).unwrap(), uri);
    }

    #[test]
    fn terminal_rendering_uses_half_blocks() {
        let t = to_terminal("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(t.contains('▀') || t.contains('▄') || t.contains('█'));
        let lines: Vec<_> = t.lines().collect();
        assert!(
            lines.len() > 10
                && lines
                    .iter()
                    .all(|l| l.chars().count() == lines[0].chars().count())
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(decode_png(b"not a png"), Err(QrError::PngRead(_))));
        // A blank white image has no code.
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, 64, 64);
        enc.set_color(png::ColorType::Grayscale);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[255u8; 64 * 64]).unwrap();
        w.finish().unwrap();
        assert!(matches!(decode_png(&out), Err(QrError::NotFound)));
    }
}
