//! Isolate startup: warm the signing paths on throw-away inputs and load the real configuration
//! before the first request arrives.

use super::settings::config_for;
use wasm_bindgen::JsValue;

/// Runs once when the isolate instantiates the module, before its first request: runs one
/// complete token request on throw-away inputs (so V8 has compiled the signing and session paths
/// and the comb's table is built), then loads the real configuration from the module-scope `env`
/// (key parsing included), so the first viewer's request finds everything ready.
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn warm_up() {
    let started = js_sys::Date::now();
    for _ in 0..WARM_UP_ROUNDS {
        crate::http::warm_up::warm_up();
    }
    let warmed = js_sys::Date::now();
    // Outside workerd (or on an old compatibility date) the import is undefined: then the first
    // request loads the configuration, as before.
    let env = MODULE_ENV.with(JsValue::clone);
    if env.is_object() {
        let loaded = config_for(&env);
        STARTUP_CONFIG_OK.with(|ok| ok.set(loaded.config.is_ok()));
    }
    let done = js_sys::Date::now();
    STARTUP_MS.with(|ms| ms.set(done - started));
    STARTUP_CONFIG_MS.with(|ms| ms.set(if env.is_object() { done - warmed } else { -1.0 }));
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "cloudflare:workers")]
extern "C" {
    /// The Worker's bindings at module scope (`import { env } from "cloudflare:workers"`).
    #[wasm_bindgen(thread_local_v2, js_name = env)]
    pub(crate) static MODULE_ENV: JsValue;
}

/// Rounds of warm-up at startup. One builds the table and compiles the paths; more rounds (to reach
/// V8's optimizing tier) cost ~4 ms of startup each and did not shorten the first request.
const WARM_UP_ROUNDS: u32 = 1;

thread_local! {
    /// How long the startup warm-up took (reported by the bench build).
    pub(crate) static STARTUP_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
    /// Of which loading the real configuration at startup (-1 when `env` was not reachable).
    pub(crate) static STARTUP_CONFIG_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
    /// Whether the configuration loaded at startup is valid.
    pub(crate) static STARTUP_CONFIG_OK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
