// The doctest main of the CLI's unit tests (they are registered from cli/meson.build).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
