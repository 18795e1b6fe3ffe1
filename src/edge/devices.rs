//! Device limits in the Workers runtime: the Durable Object [`DeviceLedger`] (one per viewer,
//! named by viewer id) that keeps the viewer's [`Ledger`] in its SQLite storage and sends the
//! revocations it owes IVS from its alarm, and [`ask`], the worker's side of a command.
//!
//! The decision itself is `device::object::apply`, pure and tested natively. Each command is
//! decided atomically: the ledger is read, changed and written with synchronous SQL calls and no
//! `.await` in between, so no other request of the viewer can interleave. The IVS call (an
//! outbound fetch, which lets other requests in) happens only in the alarm, after the call was
//! leased and stored, and its outcome is applied to the ledger read again afterwards.

use super::aws::Sent;
use crate::device::ledger::{CallOutcome, KickOutcome, Ledger, MAX_BATCH};
use crate::device::object::{apply, Envelope, Reply};
use crate::device::revocation;
use crate::http::{LedgerAnswer, LEDGER_BINDING};
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{
    console_error, console_log, durable_object, wasm_bindgen, DurableObject, Env, Headers, Method, Request,
    RequestInit, Response, Result, SqlStorage, SqlStorageValue, State,
};

/// How long the worker waits for a viewer's object before serving without it (the documented
/// policy: serve, log, count).
const LEDGER_TIMEOUT: Duration = Duration::from_millis(3000);
/// How long an IVS call may take before it counts as a network error (and is retried).
const IVS_TIMEOUT_MS: u32 = 10_000;
/// When the configuration cannot be loaded in the object, try the queue again after this long.
const RETRY_WITHOUT_CONFIG: Duration = Duration::from_secs(60);

fn now_seconds() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
}

/// Ask the viewer's object `envelope.command` and wait (at most [`LEDGER_TIMEOUT`]) for its reply.
pub(crate) async fn ask(env: &Env, envelope: &Envelope) -> LedgerAnswer {
    let answer = match env.durable_object(LEDGER_BINDING) {
        Err(_) => LedgerAnswer::Unbound,
        Ok(namespace) => {
            let sent = Box::pin(send(namespace, envelope));
            let timeout = Box::pin(worker::Delay::from(LEDGER_TIMEOUT));
            match select(sent, timeout).await {
                Either::Left((Ok(reply), _)) => LedgerAnswer::Replied(reply),
                Either::Left((Err(reason), _)) => LedgerAnswer::Unreachable(reason),
                Either::Right(_) => LedgerAnswer::Unreachable(format!("no answer within {LEDGER_TIMEOUT:?}")),
            }
        }
    };
    if let LedgerAnswer::Unreachable(reason) = &answer {
        console_error!(
            "{}",
            serde_json::json!({"event": "ledger-unreachable", "viewer_id": envelope.viewer_id, "reason": reason})
        );
    }
    answer
}

async fn send(namespace: worker::ObjectNamespace, envelope: &Envelope) -> std::result::Result<Reply, String> {
    let stub = namespace.get_by_name(&envelope.viewer_id).map_err(|e| format!("no stub: {e}"))?;
    let body = serde_json::to_string(envelope).map_err(|e| e.to_string())?;
    let headers = Headers::new();
    headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let request = Request::new_with_init("https://device-ledger/", &init).map_err(|e| e.to_string())?;
    let mut response = stub.fetch_with_request(request).await.map_err(|e| format!("object fetch failed: {e}"))?;
    if response.status_code() != 200 {
        return Err(format!("the object answered {}", response.status_code()));
    }
    response.json::<Reply>().await.map_err(|e| format!("unreadable reply: {e}"))
}

/// One viewer's devices and revocation queue.
#[durable_object]
pub struct DeviceLedger {
    state: State,
    env: Env,
}

/// The ledger, as one JSON row.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL)";

fn load(sql: &SqlStorage) -> Result<Option<Ledger>> {
    // The row as raw values, not `to_array` (a JS object decoded through serde_wasm_bindgen: a
    // derived deserializer of its own in the module for one text column).
    let row = sql.exec("SELECT json FROM ledger WHERE id = 1", None)?.raw().next().transpose()?;
    match row.as_deref() {
        None => Ok(None),
        Some([SqlStorageValue::String(json)]) => {
            serde_json::from_str(json).map(Some).map_err(|e| worker::Error::RustError(e.to_string()))
        }
        Some(_) => Err(worker::Error::RustError("the ledger row is not one text column".into())),
    }
}

fn store(sql: &SqlStorage, ledger: &Ledger) -> Result<()> {
    let json = serde_json::to_string(ledger).map_err(|e| worker::Error::RustError(e.to_string()))?;
    sql.exec("INSERT OR REPLACE INTO ledger (id, json) VALUES (1, ?)", vec![json.into()])?;
    Ok(())
}

/// One log line per admission, refusal, eviction and revocation outcome (viewer id and channel,
/// never the subject or a token).
fn log_events(ledger: &mut Ledger) {
    for event in ledger.take_events() {
        console_log!("{}", serde_json::to_string(&event).unwrap_or_default());
    }
}

fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // Jitter only: without randomness the retries are merely less spread.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}

impl DeviceLedger {
    async fn arm(&self, ledger: &Ledger) -> Result<()> {
        match ledger.next_alarm() {
            Some(at) => self.state.storage().set_alarm(Duration::from_secs(at.saturating_sub(now_seconds()))).await,
            None => Ok(()),
        }
    }

    /// Send the next due IVS call, apply its outcome, and arm the alarm for the one after.
    async fn revoke_due(&self) -> Result<()> {
        let loaded = crate::edge::settings::config_for(&self.env);
        let devices = match &loaded.config {
            Ok(config) => config.devices.as_ref(),
            Err(_) => None,
        };
        let Some(devices) = devices else {
            // Misconfigured now (or DEVICE_LIMITS removed): keep the queue, look again later.
            console_error!(
                "{}",
                serde_json::json!({"event": "revocations-waiting", "reason": "no valid DEVICE_LIMITS configuration"})
            );
            return self.state.storage().set_alarm(RETRY_WITHOUT_CONFIG).await;
        };
        let sql = self.state.storage().sql();
        let now = now_seconds();
        let Some(mut ledger) = load(&sql)? else { return Ok(()) };
        let Some(call) = ledger.due_revocations(now, MAX_BATCH) else {
            return self.arm(&ledger).await;
        };
        store(&sql, &ledger)?; // leased: an object restarted mid-call sends it again after the lease
        let signed = revocation::signed_request(&call, &devices.credentials, devices.ivs_endpoint.as_deref(), now);
        let outcome = send_to_ivs(signed, &call).await;
        let mut ledger = load(&sql)?.unwrap_or(ledger);
        ledger.revocation_result(&call, &outcome, now_seconds(), random_u32());
        store(&sql, &ledger)?;
        log_events(&mut ledger);
        self.arm(&ledger).await
    }
}

impl DeviceLedger {
    /// Send the next due `DisconnectUser` (an operator's revocation owes one per chat room) and
    /// apply its outcome. Arming the alarm is left to [`DeviceLedger::revoke_due`].
    async fn kick_due(&self) -> Result<()> {
        let sql = self.state.storage().sql();
        let now = now_seconds();
        let Some(mut ledger) = load(&sql)? else { return Ok(()) };
        let Some(call) = ledger.due_kick(now) else { return Ok(()) };
        store(&sql, &ledger)?; // leased: an object restarted mid-call sends it again after the lease
        let loaded = crate::edge::settings::config_for(&self.env);
        let outcome = match loaded.config.as_ref().ok().and_then(|config| config.chat.as_ref()) {
            // Kept and retried with backoff (never a hot loop): the room may come back.
            None => KickOutcome::Retry("no valid chat configuration".into()),
            Some(chat) => {
                let signed = crate::chat::api::disconnect_request(
                    &call.room_arn,
                    &call.region,
                    &call.user_id,
                    &chat.credentials,
                    chat.endpoint.as_deref(),
                    now,
                );
                kick_outcome(super::aws::send(&signed, IVS_TIMEOUT_MS).await)
            }
        };
        let mut ledger = load(&sql)?.unwrap_or(ledger);
        ledger.kick_result(call.id, &outcome, now_seconds(), random_u32());
        store(&sql, &ledger)?;
        log_events(&mut ledger);
        Ok(())
    }
}

/// What IVS Chat's answer to `DisconnectUser` (or its absence) means for the queued kick.
fn kick_outcome(sent: Sent) -> KickOutcome {
    match sent {
        Sent::Failed(reason) => KickOutcome::Retry(reason),
        Sent::Answered { status, error_type, body } => KickOutcome::of_answer(status, error_type.as_deref(), &body),
    }
}

async fn send_to_ivs(signed: revocation::HttpRequest, call: &crate::device::ledger::RevocationCall) -> CallOutcome {
    match super::aws::send(&signed, IVS_TIMEOUT_MS).await {
        Sent::Answered { status, error_type, body } => {
            revocation::read_answer(call, status, error_type.as_deref(), &body)
        }
        Sent::Failed(reason) => CallOutcome::Network(reason),
    }
}

impl DurableObject for DeviceLedger {
    fn new(state: State, env: Env) -> Self {
        // Once per object start, not per command. Should it fail, every later read fails too,
        // and the worker's policy for an unreachable ledger applies.
        if let Err(error) = state.storage().sql().exec(SCHEMA, None) {
            console_error!("{}", serde_json::json!({"event": "ledger-schema-failed", "reason": error.to_string()}));
        }
        Self { state, env }
    }

    async fn fetch(&self, mut request: Request) -> Result<Response> {
        // The body as text, read by serde_json (not `Request::json`, which decodes a JS value
        // through another deserializer: a second copy of the readers in the module).
        let text = request.text().await.unwrap_or_default();
        let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
            return Response::error("the body must be a device-ledger command", 400);
        };
        let sql = self.state.storage().sql();
        // Read, decide, write: synchronous, so no other request of this viewer interleaves.
        let mut ledger = load(&sql)?.unwrap_or_else(|| Ledger::new(&envelope.viewer_id));
        let reply = apply(&mut ledger, &envelope.command, now_seconds());
        store(&sql, &ledger)?;
        log_events(&mut ledger);
        self.arm(&ledger).await?;
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> Result<Response> {
        // Never throw: a thrown alarm is retried only 6 times; a failure here re-arms instead.
        // The chat disconnects first: they do not wait for the revocations' call spacing, and
        // the revocations' step arms the alarm for whatever is owed next.
        if let Err(error) = self.kick_due().await {
            console_error!(
                "{}",
                serde_json::json!({"event": "chat-disconnect-alarm-failed", "reason": error.to_string()})
            );
        }
        if let Err(error) = self.revoke_due().await {
            console_error!("{}", serde_json::json!({"event": "revocation-alarm-failed", "reason": error.to_string()}));
            let _ = self.state.storage().set_alarm(Duration::from_secs(crate::device::ledger::BACKOFF_BASE)).await;
        }
        Response::empty()
    }
}
