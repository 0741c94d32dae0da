#!/bin/sh
# meson test --wrapper for tools/check-sanitizers.sh. The tests and the
# programs of ours they start (tavce-serve, tavce-soak) are instrumented
# executables that need nothing more. GStreamer's command-line tools, which
# the pipeline scripts run, are not but load the instrumented plugin: bin/
# put first on PATH gives them (and only them) the sanitizer runtimes.
PATH=$(cd "$(dirname "$0")" && pwd)/bin:$PATH exec "$@"
