# The generated protobuf/gRPC code and what it was generated from, as `sha256sum` lines: every proto under
# Shared/Protos, every Swift file under Shared/WharfProto, and the descriptor set the tests read. Written by
# scripts/generate-protos into Shared/Protos/generated.sha256; scripts/check-generated recomputes it (CI never
# builds the protoc plugins).
generated_code_hashes() {
  local top=$1
  (cd "$top" && { find Shared/Protos -name '*.proto'; find Shared/WharfProto -name '*.swift'; echo Tests/Fixtures/wharf.protoset; } \
    | LC_ALL=C sort | xargs sha256sum)
}
