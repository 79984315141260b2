#!/usr/bin/python3
"""A SAML service provider from a library nobody at Gatehouse wrote.

Run by internal/sso/saml's interop tests with Debian's /usr/bin/python3:

    sp.py LIBRARY IDP_METADATA ENTITY_ID ACS_URL REQUEST_ID RESPONSE...

LIBRARY is pysaml2, onelogin (python3-saml) or lasso. REQUEST_ID is the ID
of the AuthnRequest the response answers, or "-" for an unsolicited one.
Each RESPONSE (a file holding the base64 SAMLResponse) is given to one SP
instance in turn, as an application would: a request ID is forgotten once
answered and the assertion IDs seen are remembered, so a replay is refused.
One line per response: "ACCEPT <NameID> <attributes as JSON>" or
"REJECT <reason>". Exit status 0 whatever the verdicts (2 on a usage error).
"""
import base64
import json
import sys


def pysaml2_sp(md_path, entity, acs, request_id):
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    cfg = SPConfig()
    cfg.load({
        "entityid": entity,
        "metadata": {"local": [md_path]},
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
            "allow_unsolicited": request_id is None,
            "want_response_signed": True,
            "want_assertions_signed": True,
        }},
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "allow_unknown_attributes": True,
    })
    client = Saml2Client(config=cfg)
    outstanding = {request_id: acs} if request_id else {}
    seen = set()

    def check(b64):
        resp = client.parse_authn_request_response(b64, BINDING_HTTP_POST, outstanding=outstanding)
        if resp is None:
            raise ValueError("no response")
        aid = resp.assertion.id
        if aid in seen:
            raise ValueError("assertion replayed")
        seen.add(aid)
        if resp.in_response_to:
            outstanding.pop(resp.in_response_to, None)
        attrs = {}
        for a in resp.assertion.attribute_statement[0].attribute if resp.assertion.attribute_statement else []:
            attrs[a.name] = [v.text for v in a.attribute_value]
        return resp.name_id.text, attrs
    return check


def onelogin_sp(md_path, entity, acs, request_id):
    from urllib.parse import urlparse
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    with open(md_path) as f:
        idp = OneLogin_Saml2_IdPMetadataParser.parse(f.read())["idp"]
    settings = OneLogin_Saml2_Settings({
        "strict": True,
        "sp": {"entityId": entity,
               "assertionConsumerService": {"url": acs, "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}},
        "idp": idp,
        "security": {"wantAssertionsSigned": True, "wantMessagesSigned": True, "rejectDeprecatedAlgorithm": True},
    }, sp_validation_only=True)
    u = urlparse(acs)
    request_data = {"https": "on" if u.scheme == "https" else "off", "http_host": u.hostname,
                    "server_port": u.port or (443 if u.scheme == "https" else 80),
                    "script_name": u.path, "get_data": {}, "post_data": {}}
    state = {"request_id": request_id}
    seen = set()

    def check(b64):
        r = OneLogin_Saml2_Response(settings, b64)
        if not r.is_valid(request_data, state["request_id"], raise_exceptions=True):
            raise ValueError(r.get_error())
        aid = r.get_assertion_id()
        if aid in seen:
            raise ValueError("assertion replayed")
        seen.add(aid)
        if state["request_id"]:
            state["request_id"] = "answered-" + state["request_id"]
        return r.get_nameid(), r.get_attributes()
    return check


def lasso_sp(md_path, entity, acs, request_id):
    import lasso

    sp_md = ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">'
             '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" '
             'WantAssertionsSigned="true">'
             '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
             'Location="%s" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>') % (entity, acs)
    server = lasso.Server.newFromBuffers(sp_md)
    with open(md_path) as f:
        server.addProviderFromBuffer(lasso.PROVIDER_ROLE_IDP, f.read())
    seen = set()
    state = {"request_id": request_id}

    def check(b64):
        login = lasso.Login(server)
        login.setSignatureVerifyHint(lasso.PROFILE_SIGNATURE_VERIFY_HINT_FORCE)
        login.processAuthnResponseMsg(b64)
        irt = login.response.inResponseTo
        if state["request_id"] is None and irt:
            raise ValueError("answers a request this SP did not send")
        if state["request_id"] is not None and irt != state["request_id"]:
            raise ValueError("answers another request")
        login.acceptSso()
        assertion = login.assertion
        # Lasso leaves the conditions (time, audience) to the application,
        # as mod_auth_mellon checks them.
        if assertion.validateConditions(entity) != lasso.SAML2_ASSERTION_VALID:
            raise ValueError("conditions not met (time or audience)")
        if assertion.id in seen:
            raise ValueError("assertion replayed")
        seen.add(assertion.id)
        if state["request_id"] is not None:
            state["request_id"] = "answered-" + state["request_id"]
        attrs = {}
        for st in assertion.attributeStatement or []:
            for a in st.attribute:
                attrs[a.name] = [v.any[0].content for v in a.attributeValue]
        return login.nameIdentifier.content, attrs
    return check


def main():
    if len(sys.argv) < 7:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    lib, md_path, entity, acs, request_id = sys.argv[1:6]
    request_id = None if request_id == "-" else request_id
    make = {"pysaml2": pysaml2_sp, "onelogin": onelogin_sp, "lasso": lasso_sp}[lib]
    check = make(md_path, entity, acs, request_id)
    for path in sys.argv[6:]:
        with open(path) as f:
            b64 = f.read().strip()
        try:
            nameid, attrs = check(b64)
            print("ACCEPT", nameid, json.dumps(attrs, sort_keys=True))
        except Exception as e:  # every refusal, whatever the library raises
            reason = (type(e).__name__ + ": " + str(e)).replace("\n", " ")[:300]
            print("REJECT", reason)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
