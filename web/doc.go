// Package web is the static page that shows a carton's info card in a
// browser (index.html, app.js, style.css) over carton.wasm (package wasm,
// `make wasm`). Its tests drive the page in headless Chromium from a
// loopback server, and the wasm API under Node; the package holds no Go
// code of its own.
package web
