// Bump with every release: sw.js carries the same number in its cache name.
export const APP_VERSION = '0.3.0';
