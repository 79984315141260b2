#!/bin/sh
# Creates the rag-docs index: PUT /rag-docs with the body the search module
# gives (ik_max_word analysis, 768-dimension dense_vector). Not the seed's
# "POST /_index/rag-docs": there is no such API.
#
#   terraform output -raw rag_docs_index > rag-docs.json
#   ES_PASSWORD=… ./create-rag-docs-index.sh "$(terraform output -raw search_endpoint)" rag-docs.json
#
# Run it from a host the cluster's private whitelist admits (the cluster has
# no public endpoint). The password is read from ES_PASSWORD and passed to
# curl on its standard input, never on its command line. ES_CACERT names a
# CA bundle if the cluster's certificate is not in the system's.
# Exit: 0 created (or already there: then it is left as it is), 1 refused,
# 2 usage.
set -eu

usage() { echo "usage: ES_PASSWORD=… $0 https://HOST:9200 BODY.json" >&2; exit 2; }
[ $# -eq 2 ] || usage
endpoint=${1%/}
body=$2
case $endpoint in https://*) ;; *) echo "$0: refusing $endpoint: the index is created over HTTPS only" >&2; exit 2 ;; esac
[ -r "$body" ] || { echo "$0: cannot read $body" >&2; exit 2; }
[ -n "${ES_PASSWORD:-}" ] || { echo "$0: set ES_PASSWORD (the ${ES_USER:-elastic} user's password)" >&2; exit 2; }

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=$(printf 'user = "%s:%s"\n' "${ES_USER:-elastic}" "$ES_PASSWORD" |
  curl --config - --silent --show-error --proto '=https' --tlsv1.2 ${ES_CACERT:+--cacert "$ES_CACERT"} \
    --request PUT --header 'Content-Type: application/json' --data-binary "@$body" \
    --output "$out" --write-out '%{http_code}' "$endpoint/rag-docs") || { echo "$0: PUT $endpoint/rag-docs failed" >&2; exit 1; }

case $status in
  200)
    echo "created rag-docs"
    ;;
  400)
    if grep -q resource_already_exists_exception "$out"; then
      echo "rag-docs exists already: left as it is (delete it first to change its settings or mappings)"
    else
      echo "$0: PUT $endpoint/rag-docs: HTTP 400" >&2; cat "$out" >&2; echo >&2; exit 1
    fi
    ;;
  *)
    echo "$0: PUT $endpoint/rag-docs: HTTP $status" >&2; cat "$out" >&2; echo >&2; exit 1
    ;;
esac
