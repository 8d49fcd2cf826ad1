#!/usr/bin/env bash
# Regenerate broker_core/proxy/v2/*_pb2*.py(i) from broker_core/proxy/v2/proto/*.proto.
# Needs grpcio-tools in the venv (.venv/bin/pip install grpcio-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/src/apache/rocketmq/v2"
cp broker_core/proxy/v2/proto/*.proto "$out/src/apache/rocketmq/v2/"
.venv/bin/python -m grpc_tools.protoc -I"$out/src" --python_out="$out" --pyi_out="$out" \
    --grpc_python_out="$out" "$out"/src/apache/rocketmq/v2/definition.proto "$out"/src/apache/rocketmq/v2/service.proto
for f in definition_pb2.py definition_pb2.pyi service_pb2.py service_pb2.pyi service_pb2_grpc.py; do
    sed 's/^from apache\.rocketmq\.v2 import \([a-z_0-9]*\) as/from . import \1 as/' \
        "$out/apache/rocketmq/v2/$f" > "broker_core/proxy/v2/$f"
done
