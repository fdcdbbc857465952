# Sourced by .ci/run: a headless Chromium for the admin page's browser
# tests (admin/browser_test.go). Installed from the distribution's
# packages when missing; if that fails CI goes on and those tests skip with
# a message (they never fail for want of a browser).
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  echo "ci: browser: $(command -v chromium || command -v chromium-browser)" >&2
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ci: installing chromium for the admin page's browser tests" >&2
  if ! { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends chromium; } >/tmp/iisbridge-ci-chromium.log 2>&1; then
    echo "ci: chromium could not be installed (see /tmp/iisbridge-ci-chromium.log): the browser tests will skip" >&2
  fi
else
  echo "ci: no chromium and no way to install it: the admin page's browser tests will skip" >&2
fi
