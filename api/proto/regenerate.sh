#!/usr/bin/env bash
# Rebuilds mesos-v1.pb, the descriptor set of Mesos's v1 API schema (message and field names,
# numbers and types: no comments, no source), from a checkout of apache/mesos.
# Usage: api/proto/regenerate.sh MESOS_SOURCE_DIR   (needs protoc: Debian's protobuf-compiler)
set -euo pipefail
src="${1:?usage: $0 MESOS_SOURCE_DIR}"
out="$(cd "$(dirname "$0")" && pwd)/mesos-v1.pb"
cd "$src/include"
protoc -I. --include_imports -o "$out" \
  mesos/v1/scheduler/scheduler.proto \
  mesos/v1/executor/executor.proto \
  mesos/v1/master/master.proto \
  mesos/v1/agent/agent.proto
echo "wrote $out"
