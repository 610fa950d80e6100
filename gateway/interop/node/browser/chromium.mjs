// How every browser test launches Debian's chromium: never a downloaded
// browser, and without the background services that this machine's closed
// network would refuse.
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const LAUNCH_TIMEOUT_MS = 30000;
