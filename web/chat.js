// Chat panel of the watch page, on a channel with an IVS Chat room (`data.chat`). It connects
// with the Amazon IVS Chat messaging SDK (global IVSChatMessaging, a script of this worker) to
// `data.chat.region_or_url`; the SDK asks the tokenProvider for a token on every (re)connect, and
// the provider POSTs /v1/chat-token with the viewer's own credentials, so nothing secret is in
// the page and a blocked or signed-out viewer stops getting tokens at once.
// The answer also says what the viewer may do (role, capabilities): a reader's input stays
// disabled with the reason; a moderator gets Delete on each message and Disconnect on each sender.
// Messages and names are shown as text only (textContent, never markup): anything a viewer types
// reaches every other viewer's page.
// Reconnecting is done here, not by the SDK (maxReconnectAttempts 0): the SDK would ask for a
// token again at once, while a 429 or 503 says how long to wait (Retry-After); an answer that
// waiting cannot change (signed out, blocked, no chat) or a moderator's disconnect stops it.
// Served inline under the page's CSP nonce; see src/page/watch.rs.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("watch-data").textContent);
  var chat = data.chat;
  var panel = document.getElementById("chat");
  if (!chat || !panel) {
    return;
  }
  var statusLine = document.getElementById("chat-status");
  var list = document.getElementById("chat-messages");
  var reasonLine = document.getElementById("chat-reason");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var sendButton = document.getElementById("chat-send");
  var SDK = window.IVSChatMessaging;
  var MAX_SHOWN = 200; // older messages leave the panel
  var FIRST_BACKOFF_MS = 2000;
  var MAX_BACKOFF_MS = 60000;
  var me = null; // the last chat-token answer: user_id, role, capabilities
  var room = null;
  var connected = false;
  var stopped = false;
  var retryAfterMs = null; // set by a 429/503 answer: the next reconnect waits that long
  var problem = ""; // what went wrong before the next reconnect, in words
  var backoffMs = FIRST_BACKOFF_MS;
  var reconnectTimer = null;
  var shown = new Map(); // message id -> its list item

  function say(text) {
    statusLine.textContent = text;
    statusLine.hidden = !text;
    panel.setAttribute("data-chat-state", stopped ? "stopped" : connected ? "connected" : "waiting");
  }

  function can(capability) {
    return !!me && me.capabilities.indexOf(capability) >= 0;
  }

  function updateInput() {
    var sender = can("SEND_MESSAGE");
    input.disabled = sendButton.disabled = !(connected && sender && !stopped);
    if (me && !sender) {
      reasonLine.textContent = "Reading only: your account is in none of this room's sender groups.";
      reasonLine.hidden = false;
      input.placeholder = "Reading only";
    } else {
      reasonLine.hidden = true;
    }
  }

  // A problem that stops the chat for good on this page (waiting would not change the answer).
  function stop(text) {
    stopped = true;
    connected = false;
    if (reconnectTimer !== null) {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
    }
    say(text);
    updateInput();
  }

  function seconds(ms) {
    var s = Math.max(1, Math.round(ms / 1000));
    return s + (s === 1 ? " second" : " seconds");
  }

  // What /v1/chat-token's problem means here: {text, fatal} or {text, retryMs}.
  function explain(status, problem, retryAfter) {
    var type = (problem && problem.type) || "";
    var wait = retryAfter > 0 ? retryAfter * 1000 : null;
    if (status === 401) {
      return { fatal: true, text: "Your session has ended. Reload the page to sign in again and chat." };
    }
    if (status === 403 && /viewer-blocked$/.test(type)) {
      return { fatal: true, text: "Chat is suspended for this account." };
    }
    if (status === 403) {
      return { fatal: true, text: "Your account does not include this channel's chat." };
    }
    if (status === 404) {
      return { fatal: true, text: "This channel has no chat." };
    }
    if (status === 429) {
      return { retryMs: wait || 10000, text: "Too many chat connections from this account just now." };
    }
    if (status === 503) {
      return { retryMs: wait || 5000, text: "The chat is unavailable right now." };
    }
    return { retryMs: wait, text: "The chat could not be joined (HTTP " + status + ")." };
  }

  // The SDK's tokenProvider: a fresh token on every connect, as Dates.
  function tokenProvider() {
    return fetch(chat.token_endpoint, { method: "POST", credentials: "same-origin", cache: "no-store" })
      .catch(function () {
        var failure = new Error("network");
        failure.chat = { text: "The chat could not be reached (network error)." };
        throw failure;
      })
      .then(function (response) {
        if (response.ok) {
          return response.json().then(function (body) {
            me = { user_id: body.user_id, role: body.role, capabilities: body.capabilities || [] };
            panel.setAttribute("data-role", me.role);
            updateInput();
            return {
              token: body.token,
              sessionExpirationTime: new Date(body.sessionExpirationTime),
              tokenExpirationTime: new Date(body.tokenExpirationTime),
            };
          });
        }
        var retryAfter = Number(response.headers.get("Retry-After")) || 0;
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (problem) {
            var failure = new Error("chat-token " + response.status);
            failure.chat = explain(response.status, problem, retryAfter);
            throw failure;
          });
      })
      .catch(function (error) {
        var why = error.chat || { text: "The chat could not be joined." };
        if (why.fatal) {
          stop(why.text);
        } else {
          retryAfterMs = why.retryMs || null;
          problem = why.text;
        }
        throw error;
      });
  }

  function reconnectLater() {
    if (stopped || reconnectTimer !== null) {
      return;
    }
    var wait = retryAfterMs !== null ? retryAfterMs : backoffMs;
    if (retryAfterMs === null) {
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    }
    retryAfterMs = null;
    say(problem + " Trying again in " + seconds(wait) + ".");
    reconnectTimer = setTimeout(function () {
      reconnectTimer = null;
      if (!stopped && room.state === "disconnected") {
        room.connect();
      }
    }, wait);
  }

  function shortId(userId) {
    return "viewer " + String(userId || "").slice(0, 8);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  // A moderator's request: its refusal (403, 400, a timeout) is said in the status line.
  function moderate(promise, what) {
    promise.catch(function (error) {
      say("Could not " + what + ": " + ((error && (error.errorMessage || error.message)) || "refused") + ".");
    });
  }

  function show(message) {
    var sender = message.sender || {};
    var attributes = sender.attributes || {};
    var item = element("li", "chat-message");
    item.setAttribute("data-id", message.id);
    if (me && sender.userId === me.user_id) {
      item.classList.add("mine");
    }
    var head = element("div", "chat-head");
    head.appendChild(element("span", "chat-name", attributes.display_name || shortId(sender.userId)));
    var role = attributes.role || "viewer";
    var badge = element("span", "chat-role", role);
    badge.setAttribute("data-role", role);
    head.appendChild(badge);
    if (can("DELETE_MESSAGE")) {
      var remove = element("button", "chat-delete", "Delete");
      remove.type = "button";
      remove.addEventListener("click", function () {
        moderate(room.deleteMessage(new SDK.DeleteMessageRequest(message.id, "Removed by a moderator")), "delete the message");
      });
      head.appendChild(remove);
    }
    if (can("DISCONNECT_USER") && sender.userId !== me.user_id) {
      var kick = element("button", "chat-disconnect", "Disconnect");
      kick.type = "button";
      kick.addEventListener("click", function () {
        moderate(room.disconnectUser(new SDK.DisconnectUserRequest(sender.userId, "Disconnected by a moderator")), "disconnect the viewer");
      });
      head.appendChild(kick);
    }
    item.appendChild(head);
    item.appendChild(element("p", "chat-text", message.content));
    shown.set(message.id, item);
    list.appendChild(item);
    while (list.children.length > MAX_SHOWN) {
      shown.delete(list.firstElementChild.getAttribute("data-id"));
      list.removeChild(list.firstElementChild);
    }
    list.scrollTop = list.scrollHeight;
  }

  if (!SDK || !SDK.ChatRoom) {
    stop("The chat could not be loaded.");
    return;
  }

  room = new SDK.ChatRoom({ regionOrUrl: chat.region_or_url, tokenProvider: tokenProvider, maxReconnectAttempts: 0 });
  room.logLevel = "error";
  room.addListener("connecting", function () {
    if (!stopped) {
      say("Connecting to the chat\u2026");
    }
  });
  room.addListener("connect", function () {
    connected = true;
    backoffMs = FIRST_BACKOFF_MS;
    say("");
    updateInput();
  });
  room.addListener("disconnect", function (reason) {
    connected = false;
    updateInput();
    if (stopped || reason === "clientDisconnect") {
      return;
    }
    if (reason !== "fetchTokenError") {
      problem = "The chat connection was lost.";
    }
    reconnectLater();
  });
  room.addListener("message", show);
  room.addListener("messageDelete", function (event) {
    var item = shown.get(event.messageId);
    if (item) {
      shown.delete(event.messageId);
      item.remove();
    }
  });
  room.addListener("userDisconnect", function (event) {
    if (me && event.userId === me.user_id) {
      stop("A moderator disconnected you from this chat" + (event.reason ? " (" + event.reason + ")." : "."));
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var content = input.value.trim();
    if (!content || input.disabled) {
      return;
    }
    sendButton.disabled = true;
    room
      .sendMessage(new SDK.SendMessageRequest(content))
      .then(function () {
        input.value = "";
      })
      .catch(function (error) {
        say("Your message was not sent: " + ((error && (error.errorMessage || error.message)) || "refused") + ".");
      })
      .then(function () {
        updateInput();
        input.focus();
      });
  });

  room.connect();
})();
