//! The configuration of this isolate: every setting read from the runtime's `env`, validated once
//! by the core and kept until a setting's value changes (e.g. after `wrangler secret put`), with
//! the isolate's runtime state beside it ([`IsolateState`]: its caches).
//!
//! **On a reload** (a setting's value changed) the new configuration gets a new, empty state: the
//! caches filled under the old settings (providers' keys and discovery documents, tokens verified
//! by the old providers, playback tokens signed with the old key or for the old channels) are
//! not carried over, so nothing learned under settings that are gone can answer a request. The
//! price is one fetch per provider again, as after an isolate start. Requests already under way
//! finish with the configuration and state they started with (they hold an `Rc`), and those are
//! dropped with the last of them. A new `env` object with the same settings is not a reload: the
//! configuration and its state stay.

use crate::config::{names, Config, Settings};
use crate::error::Error;
use crate::isolate::IsolateState;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use worker::{console_error, console_warn};

/// A configuration as loaded (or the error loading it gave), and the runtime state that lives and
/// dies with it.
pub(crate) struct Configured {
    /// What the operator set.
    pub(crate) config: Result<Config, Error>,
    /// What this isolate has learned under it: empty at the load (see the module docs).
    pub(crate) state: IsolateState,
}

pub(crate) type Loaded = Rc<Configured>;

/// The cached configuration and its state, the settings it was built from, and the `env` object
/// they were read from.
pub(crate) struct Cached {
    env: JsValue,
    /// The raw binding values of `env`, one per `names::ALL`.
    values: Vec<JsValue>,
    /// The names of every binding of `env`.
    bindings: Vec<String>,
    pub(crate) settings: Settings,
    loaded: Loaded,
}

/// The raw value of every setting's binding (undefined when unset).
fn binding_values(env: &JsValue) -> Vec<JsValue> {
    names::ALL.iter().map(|name| js_sys::Reflect::get(env, &JsValue::from_str(name)).unwrap_or_default()).collect()
}

/// The names of every binding of `env` (vars, secrets, the Durable Object, ...), its own keys.
fn binding_names(env: &JsValue) -> Vec<String> {
    let Some(object) = env.dyn_ref::<js_sys::Object>() else { return Vec::new() };
    js_sys::Reflect::own_keys(object)
        .map(|keys| keys.iter().filter_map(|key| key.as_string()).collect())
        .unwrap_or_default()
}

thread_local! {
    pub(crate) static CONFIG: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

thread_local! {
    /// How many times this isolate loaded a configuration (reported by the bench build).
    pub(crate) static LOADS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Every setting as text: strings as they are, other JSON values (tables, numbers) as JSON; and
/// the names of every binding, which the load checks for misspelled settings.
pub(crate) fn read_settings(env: &JsValue) -> Settings {
    let mut settings = Settings::new().with_bindings(binding_names(env));
    for name in names::ALL {
        let Ok(value) = js_sys::Reflect::get(env, &JsValue::from_str(name)) else { continue };
        if let Some(text) = value.as_string() {
            settings.insert(name, text);
        } else if !value.is_undefined() && !value.is_null() {
            if let Some(json) = js_sys::JSON::stringify(&value).ok().and_then(|s| s.as_string()) {
                settings.insert(name, json);
            }
        }
    }
    // The secret bindings `login` tables name (`client_secret`), besides the fixed settings.
    for name in crate::signin::settings::secret_names(settings.get(names::IDENTITY_PROVIDERS)) {
        if let Some(text) = js_sys::Reflect::get(env, &JsValue::from_str(&name)).ok().and_then(|v| v.as_string()) {
            settings.insert(&name, text);
        }
    }
    settings
}

/// The configuration for `env` and its state, loaded again (with a new, empty state) only when a
/// setting changed, and cheaply:
/// - the same `env` object as last time (every request of an isolate, in workerd) costs one
///   `Object.is`;
/// - another object (the first request's `env` is not the module-scope one the startup load
///   used) whose bindings are the same values (`Object.is` per binding: strings by value, JSON
///   bindings by identity) and the same names is adopted without serialising anything;
/// - only otherwise is every setting read (`Reflect`, `JSON.stringify`) and compared, and the
///   configuration loaded again if one differs.
pub(crate) fn config_for(env: &JsValue) -> Loaded {
    CONFIG.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some(known) = cached.as_mut() {
            if js_sys::Object::is(&known.env, env) {
                return Rc::clone(&known.loaded);
            }
            let values = binding_values(env);
            if values.iter().zip(&known.values).all(|(a, b)| js_sys::Object::is(a, b))
                && binding_names(env) == known.bindings
            {
                known.env = env.clone();
                return Rc::clone(&known.loaded);
            }
        }
        let values = binding_values(env);
        let bindings = binding_names(env);
        let settings = read_settings(env);
        if let Some(known) = cached.as_mut() {
            if known.settings == settings {
                (known.env, known.values, known.bindings) = (env.clone(), values, bindings);
                return Rc::clone(&known.loaded);
            }
        }
        LOADS.with(|n| n.set(n.get() + 1));
        // A new configuration, a new state: nothing cached under the old settings carries over.
        let loaded = Rc::new(Configured { config: Config::load(&settings), state: IsolateState::new() });
        match &loaded.config {
            // Names the setting and the rule, never the value (see `Error`).
            Err(error) => console_error!("{}", serde_json::json!({"config_error": error.to_string()})),
            // Once per load: bindings the worker does not read (names only).
            Ok(config) if !config.unknown_settings.is_empty() => {
                console_warn!("{}", serde_json::json!({"unknown_settings": config.unknown_settings}))
            }
            Ok(_) => {}
        }
        *cached = Some(Cached { env: env.clone(), values, bindings, settings, loaded: Rc::clone(&loaded) });
        loaded
    })
}
