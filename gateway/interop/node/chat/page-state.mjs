// Reading the state chat/chat.html keeps on window.chat.state, for the
// browser tests that drive it (chat/browser-chat.browser.mjs,
// reconnect/browser-restore.test.mjs). A page is { user, page }.

// waitOnState polls the page until predicate(state, arg) holds, for at most
// timeoutMs; on timeout the error shows the page's whole state.
export async function waitOnState(p, what, predicate, arg, timeoutMs) {
  try {
    await p.page.waitForFunction(
      ({ src, arg }) => new Function('state', 'arg', `return (${src})(state, arg);`)(window.chat.state, arg),
      { src: predicate.toString(), arg },
      { timeout: timeoutMs, polling: 20 },
    );
  } catch (err) {
    const state = await p.page.evaluate(() => window.chat.state).catch(() => 'unreadable');
    throw new Error(`${p.user}: ${what}: ${err.message}; page state ${JSON.stringify(state)}`);
  }
}
