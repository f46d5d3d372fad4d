#!/usr/bin/env bash
# Build the workspace image that Docker mode (EXECUTION_MODE=local) spawns: build-image.sh
# workspace (its settings are documented there).
exec bash "$(dirname "${BASH_SOURCE[0]}")/build-image.sh" workspace "$@"
