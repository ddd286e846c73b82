// What both pages of the web UI (index.html, app.html) build on: making elements, and
// fetching from the API with the master's token.
"use strict";

window.VegaDom = (() => {
  // The sign-in link (/?token=T) arrives as #token=T: keep the token in this origin's
  // storage (scheme, host and port: unlike a cookie, no other server of the host sees it)
  // and drop it from the address.
  const TOKEN_KEY = "vega-token";
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    localStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, "", location.pathname + location.search);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    children.forEach(c => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  }

  // The API answers 401 without the token, or with a stale one (the master restarted
  // without a cluster secret, so with a new token): say how to sign in again.
  async function signedInFetch(path) {
    const token = localStorage.getItem(TOKEN_KEY);
    const response = await fetch(path, {credentials: "omit",
                                        headers: token ? {Authorization: `Bearer ${token}`} : {}});
    document.getElementById("signin").hidden = response.status !== 401;
    if (response.status === 401) throw new Error("not signed in");
    return response;
  }

  // A link to text the API answers (an application's output): fetched with the token and
  // opened as a blob of this origin, since a plain link would carry no token; always as
  // plain text, so that output holding markup cannot run in this origin.
  function fileLink(path, text) {
    const link = el("a", {href: path}, text);
    link.onclick = async event => {
      event.preventDefault();
      const body = await (await signedInFetch(path)).text();
      const blob = new Blob([body], {type: "text/plain;charset=utf-8"});
      window.open(URL.createObjectURL(blob), "_blank", "noopener");
    };
    return link;
  }

  // A duration as people read it, in Spark's UI's units: an application up for days
  // showed "259200.0s".
  function duration(seconds) {
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
    if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }

  // A moment (milliseconds since the epoch): its time of day if it is today, else its date
  // too (the stages of an application running for days all read as times of day).
  function moment(millis) {
    const date = new Date(millis);
    return date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString()
      : date.toLocaleString();
  }

  return {el, signedInFetch, fileLink, duration, moment};
})();
