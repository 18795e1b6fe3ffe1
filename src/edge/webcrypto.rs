//! Identity tokens' signatures checked by the platform's WebCrypto, with imported keys kept for
//! the life of the isolate.

use std::cell::RefCell;
use wasm_bindgen::JsValue;

thread_local! {
    /// Identity providers' keys imported into WebCrypto, by key and algorithm. Bounded: cleared
    /// when it outgrows what a few providers' rotations can need.
    static CRYPTO_KEYS: RefCell<std::collections::HashMap<String, JsValue>> = RefCell::new(std::collections::HashMap::new());
}

/// A plain JavaScript object.
fn js_object(pairs: &[(&str, JsValue)]) -> Option<js_sys::Object> {
    let object = js_sys::Object::new();
    for (name, value) in pairs {
        js_sys::Reflect::set(&object, &JsValue::from_str(name), value).ok()?;
    }
    Some(object)
}

/// Call `crypto.subtle[method](...args)` and await it.
async fn subtle(method: &str, args: &[JsValue]) -> Option<JsValue> {
    use wasm_bindgen::JsCast;
    let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
    let subtle = js_sys::Reflect::get(&crypto, &JsValue::from_str("subtle")).ok()?;
    let function: js_sys::Function = js_sys::Reflect::get(&subtle, &JsValue::from_str(method)).ok()?.dyn_into().ok()?;
    let promise: js_sys::Promise =
        function.apply(&subtle, &args.iter().collect::<js_sys::Array>()).ok()?.dyn_into().ok()?;
    wasm_bindgen_futures::JsFuture::from(promise).await.ok()
}

/// Check an identity token's signature with the platform's WebCrypto (BoringSSL): several times
/// faster than this crate's RSA and P-256 code compiled to wasm. `None` when WebCrypto cannot
/// answer; the core then checks the signature itself.
pub(crate) async fn platform_verify(check: &crate::identity::credential::SignatureCheck) -> Option<bool> {
    use crate::identity::jwk::Algorithm::*;
    let text = JsValue::from_str;
    let hash = |bits: u32| text(&format!("SHA-{bits}"));
    let (import, verify) = match check.alg {
        Rs256 | Rs384 | Rs512 => {
            let bits = match check.alg {
                Rs256 => 256,
                Rs384 => 384,
                _ => 512,
            };
            (
                js_object(&[("name", text("RSASSA-PKCS1-v1_5")), ("hash", hash(bits))])?,
                js_object(&[("name", text("RSASSA-PKCS1-v1_5"))])?,
            )
        }
        Ps256 | Ps384 | Ps512 => {
            let bits = match check.alg {
                Ps256 => 256,
                Ps384 => 384,
                _ => 512,
            };
            // RFC 7518 section 3.5: the salt is as long as the hash.
            (
                js_object(&[("name", text("RSA-PSS")), ("hash", hash(bits))])?,
                js_object(&[("name", text("RSA-PSS")), ("saltLength", JsValue::from(bits / 8))])?,
            )
        }
        Es256 => (
            js_object(&[("name", text("ECDSA")), ("namedCurve", text("P-256"))])?,
            js_object(&[("name", text("ECDSA")), ("hash", hash(256))])?,
        ),
        Es384 => (
            js_object(&[("name", text("ECDSA")), ("namedCurve", text("P-384"))])?,
            js_object(&[("name", text("ECDSA")), ("hash", hash(384))])?,
        ),
    };
    let cached = CRYPTO_KEYS.with(|keys| keys.borrow().get(&check.key_id).cloned());
    let key = match cached {
        Some(key) => key,
        None => {
            let jwk = js_sys::JSON::parse(&check.key.to_string()).ok()?;
            let usages: js_sys::Array = [text("verify")].iter().collect();
            let key = subtle("importKey", &[text("jwk"), jwk, import.into(), JsValue::FALSE, usages.into()]).await?;
            CRYPTO_KEYS.with(|keys| {
                let mut keys = keys.borrow_mut();
                if keys.len() >= 64 {
                    keys.clear();
                }
                keys.insert(check.key_id.clone(), key.clone());
            });
            key
        }
    };
    let signature = js_sys::Uint8Array::from(check.signature.as_slice());
    let data = js_sys::Uint8Array::from(check.signing_input.as_bytes());
    subtle("verify", &[verify.into(), key, signature.into(), data.into()]).await?.as_bool()
}
