#!/bin/sh
# Runs PROGRAM ARGS... FOLDER with FOLDER a fresh temporary folder, removed afterwards: how the
# tests run the examples that write files (tests never write outside their temporary folders).
set -eu
folder=$(mktemp -d "${TMPDIR:-/tmp}/sm-example.XXXXXX")
trap 'rm -rf "$folder"' EXIT
"$@" "$folder"
