// What both pages of the web UI (index.html, app.html) build on: making elements, and
// fetching from the API with the sign-in cookie.
"use strict";

window.VegaDom = (() => {
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    children.forEach(c => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  }

  // The API answers 401 once the sign-in cookie is gone or stale (the master restarted
  // without a cluster secret, so with a new token): say how to sign in again.
  async function signedInFetch(path) {
    const response = await fetch(path, {credentials: "same-origin"});
    document.getElementById("signin").hidden = response.status !== 401;
    if (response.status === 401) throw new Error("not signed in");
    return response;
  }

  return {el, signedInFetch};
})();
