// openid-client as a relying party of Gatehouse, driven by interop_test.go.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET ("" for a public client),
// REDIRECT_URI, POST_LOGOUT_URI, COOKIE (the Cookie header of a browser
// signed in at Gatehouse), ID_TOKEN_ALG (the client's registered
// id_token_signed_response_alg; unset: openid-client's default, RS256).
// Non-repudiation checks are on: openid-client verifies every ID token's
// signature with the key the JWKS publishes under its kid. Prints one JSON object of results; exits 1 on an
// unexpected error.
import * as client from 'openid-client'

const env = process.env
const issuer = new URL(env.ISSUER)
const metadata = { client_id: env.CLIENT_ID }
if (env.ID_TOKEN_ALG) metadata.id_token_signed_response_alg = env.ID_TOKEN_ALG
let auth
if (env.CLIENT_SECRET) {
  metadata.client_secret = env.CLIENT_SECRET
  auth = client.ClientSecretBasic(env.CLIENT_SECRET)
} else {
  auth = client.None()
}
const config = await client.discovery(issuer, env.CLIENT_ID, metadata, auth, { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] })

// The browser: follows Gatehouse's redirects with its cookie, stops at the
// redirect URI.
async function browse(url) {
  let cookie = env.COOKIE || ''
  for (let i = 0; i < 10; i++) {
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} })
    const set = res.headers.getSetCookie?.() || []
    for (const c of set) {
      const pair = c.split(';')[0]
      const name = pair.split('=')[0]
      cookie = [...cookie.split('; ').filter(x => x && !x.startsWith(name + '=')), pair].join('; ')
    }
    const loc = res.headers.get('location')
    if (res.status < 300 || res.status >= 400 || !loc) {
      throw new Error(`the browser stopped at ${url}: ${res.status} ${await res.text()}`)
    }
    const next = new URL(loc, url)
    if (next.href.startsWith(env.REDIRECT_URI)) return next
    url = next
  }
  throw new Error('too many redirects')
}

async function errorOf(p) {
  try {
    await p
    return 'no error'
  } catch (e) {
    return e.error || e.code || String(e)
  }
}

const out = {}
const verifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const nonce = client.randomNonce()
const authURL = client.buildAuthorizationUrl(config, {
  redirect_uri: env.REDIRECT_URI, scope: 'openid profile email groups offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce,
})
const callback = await browse(authURL)
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
})
const claims = tokens.claims()
out.id_token_alg = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg
out.sub = claims.sub
out.email = claims.email
out.groups = claims.groups
out.acr = claims.acr
out.amr = claims.amr
out.has_refresh = !!tokens.refresh_token
const ui = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
out.userinfo_email = ui.email

// The code again: invalid_grant.
out.code_reuse = await errorOf(client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }))

// A second authorization for the refresh checks (the reuse above revoked
// the first grant).
const v2 = client.randomPKCECodeVerifier()
const s2 = client.randomState()
const cb2 = await browse(client.buildAuthorizationUrl(config, {
  redirect_uri: env.REDIRECT_URI, scope: 'openid email offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(v2), code_challenge_method: 'S256', state: s2,
}))
const t2 = await client.authorizationCodeGrant(config, cb2, { pkceCodeVerifier: v2, expectedState: s2 })
const r1 = await client.refreshTokenGrant(config, t2.refresh_token)
out.rotated = !!r1.refresh_token && r1.refresh_token !== t2.refresh_token
out.refreshed_sub = r1.claims()?.sub
out.refresh_reuse = await errorOf(client.refreshTokenGrant(config, t2.refresh_token))
out.after_reuse = await errorOf(client.refreshTokenGrant(config, r1.refresh_token))

out.logout_url = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token, post_logout_redirect_uri: env.POST_LOGOUT_URI, state: 'bye',
}).href
console.log(JSON.stringify(out))
