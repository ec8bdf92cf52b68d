/**
 * Parts of a URL that must never reach a rendered file, a status or a log
 * line, because they can hold a secret. Written so that JavaScript and the
 * apiserver's RE2 (CEL `matches`) read the pattern alike.
 *
 * User information is what comes before "@" in the authority, which
 * (RFC 3986) runs from "//" to the first "/", "?" or "#". Python's
 * urllib, which keystoneauth and cinderclient use, splits a URL the same
 * way, so a URL this pattern accepts has no user information for them either.
 */
export const URL_USER_INFO_TEXT = "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@";
export const URL_USER_INFO = new RegExp(URL_USER_INFO_TEXT);
