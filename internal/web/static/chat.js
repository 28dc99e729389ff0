// Komand's embeddable WebChat page. It talks to POST
// /api/webchat/message/stream and renders the Server-Sent Events it gets
// back (typing, delta, message, error). Text is only ever inserted with
// textContent, never as HTML. The credential lives in sessionStorage only.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("komand.token") || "";
  let sender = sessionStorage.getItem("komand.sender") || "";
  let sessionId = "";

  function show() {
    $("login").hidden = !!(token && sender);
    $("conversation").hidden = !(token && sender);
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
    token = $("token").value.trim();
    sender = $("sender").value.trim();
    sessionStorage.setItem("komand.token", token);
    sessionStorage.setItem("komand.sender", sender);
    show();
  });

  async function send(text) {
    add("user", text);
    const body = { senderId: sender, text: text };
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
        if (resp.status === 401) { sessionStorage.removeItem("komand.token"); token = ""; show(); }
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
})();
