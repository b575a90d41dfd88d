/* Loaded synchronously in <head>: styles for "scripting on" apply before the first paint
   (a file rather than an inline script, which the Content-Security-Policy would block). */
document.documentElement.classList.add("js");
