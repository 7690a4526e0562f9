//! A QR code of an otpauth URI rendered as an 8-bit greyscale PNG, as IAM returns it in
//! `CreateVirtualMFADevice`'s `QRCodePNG`.

use qrcode::{Color, QrCode};

/// Pixels per QR module.
const SCALE: usize = 6;
/// Quiet zone around the symbol, in modules (the QR specification asks for four).
const QUIET: usize = 4;

/// Why a QR PNG could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The data does not fit in a QR code.
    #[error("data does not fit in a QR code: {0}")]
    Encode(String),
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// Render `data` as a PNG image of its QR code.
pub fn png(data: &str) -> Result<Vec<u8>, QrError> {
    let code = QrCode::new(data.as_bytes()).map_err(|e| QrError::Encode(e.to_string()))?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..width {
        for x in 0..width {
            if colors[y * width + x] == Color::Dark {
                for dy in 0..SCALE {
                    let row = (y + QUIET) * SCALE + dy;
                    let start = row * side + (x + QUIET) * SCALE;
                    pixels[start..start + SCALE].fill(0);
                }
            }
        }
    }
    let side32 = u32::try_from(side).map_err(|e| QrError::Png(e.to_string()))?;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, side32, side32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        // fdeflate's fast mode: half the time of the default level for a PNG twice as big
        // (about 4 KB for an IAM-sized URI, see the test below); the PNG was most of the cost
        // of a CreateVirtualMFADevice.
        enc.set_compression(png::Compression::Fast);
        let mut w = enc
            .write_header()
            .map_err(|e| QrError::Png(e.to_string()))?;
        w.write_image_data(&pixels)
            .map_err(|e| QrError::Png(e.to_string()))?;
        w.finish().map_err(|e| QrError::Png(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_a_png() {
        let bytes =
            png("otpauth://totp/Amazon%20Web%20Services:dev@123456789012?secret=ABC").expect("png");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // Width in the IHDR chunk is (modules + 8) * 6 pixels.
        let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        assert_eq!(w % SCALE as u32, 0);
        assert!(w > 100);
        // 4,225 bytes in fast mode for an IAM-sized URI (2,030 at the default level, ~150 KB
        // uncompressed); tests/py/test_emulator_cli_and_state.py reads it back with authsim.
        let uri = "otpauth://totp/Amazon%20Web%20Services:a-rather-long-virtual-device-name@123456789012?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let big = png(uri).expect("png");
        assert!(big.len() < 6 * 1024, "{} bytes", big.len());
    }
}
