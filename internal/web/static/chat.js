// Komand's embeddable WebChat page. It talks to POST
// /api/webchat/message/stream and renders the Server-Sent Events it gets
// back (typing, delta, message, error). Text is only ever inserted with
// textContent, never as HTML. The credential lives in sessionStorage only.
//
// Two modes: staff sign in with an API key or access token; with
// ?widget=<id> (a public chat widget) an anonymous visitor gets a visitor
// token from POST /api/webchat/visitor instead, which fixes the sender.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const widget = new URLSearchParams(location.search).get("widget") || "";
  const visitorKey = "komand.visitor." + widget;
  let token = widget ? (sessionStorage.getItem(visitorKey) || "") : (sessionStorage.getItem("komand.token") || "");
  let sender = widget ? "visitor" : (sessionStorage.getItem("komand.sender") || "");
  let sessionId = "";

  function show() {
    $("login").hidden = !!widget || !!(token && sender);
    $("conversation").hidden = widget ? !token : !(token && sender);
  }

  // visit exchanges the widget ID (and the visitor's earlier token, so the
  // conversation goes on) for a fresh visitor token.
  async function visit() {
    const resp = await fetch("/api/webchat/visitor", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ widgetId: widget, previousToken: token }),
    });
    const env = await resp.json().catch(() => ({}));
    if (!resp.ok || !env.data) throw new Error(env.error || "This chat is not available.");
    token = env.data.token;
    sessionStorage.setItem(visitorKey, token);
    show();
  }

  function add(cls, text) {
    const li = document.createElement("li");
    li.className = cls;
    li.textContent = text;
    $("messages").appendChild(li);
    li.scrollIntoView({ block: "end" });
    return li;
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    $("login-error").hidden = true;
    token = $("token").value.trim();
    sender = $("sender").value.trim();
    sessionStorage.setItem("komand.token", token);
    sessionStorage.setItem("komand.sender", sender);
    show();
  });

  async function send(text, retried) {
    if (!retried) add("user", text);
    const body = { text: text };
    if (!widget) body.senderId = sender;
    if (sessionId) body.sessionId = sessionId;
    let reply = null;
    try {
      const resp = await fetch("/api/webchat/message/stream", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token },
        body: JSON.stringify(body),
      });
      const type = resp.headers.get("Content-Type") || "";
      if (!type.startsWith("text/event-stream")) {
        const env = await resp.json().catch(() => ({ error: "request failed" }));
        if (resp.status === 401 && widget && !retried) {
          // The visitor token expired: renew it (same visitor) and retry once.
          try { await visit(); } catch (e) { add("agent error", e.message); return; }
          return send(text, true);
        }
        if (resp.status === 401 && !widget) {
          // Back to the sign-in form, saying why: the key was refused.
          sessionStorage.removeItem("komand.token");
          token = "";
          $("login-error").textContent = "Komand refused this key. Check the API key or access token and sign in again.";
          $("login-error").hidden = false;
          show();
          return;
        }
        if (resp.status === 409) sessionId = "";
        add("agent error", env.error || "request failed");
        return;
      }
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          let v = {};
          try { v = JSON.parse(data); } catch (_) { continue; }
          if (event === "typing") $("typing").hidden = false;
          else if (event === "delta") {
            if (!reply) reply = add("agent", "");
            reply.textContent += v.text || "";
          } else if (event === "message") {
            $("typing").hidden = true;
            sessionId = v.sessionId || sessionId;
            if (!reply) reply = add("agent", "");
            reply.textContent = v.text || "";
          } else if (event === "error") {
            $("typing").hidden = true;
            add("agent error", v.error || "request failed");
          }
        }
      }
    } catch (_) {
      add("agent error", "Komand is not reachable.");
    } finally {
      $("typing").hidden = true;
    }
  }

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    $("text").value = "";
    send(text);
  });

  show();
  if (widget && !token) {
    visit().catch((e) => { $("conversation").hidden = false; add("agent error", e.message); });
  }
})();
