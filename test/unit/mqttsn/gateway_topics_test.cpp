#include "gateway_fixture.hpp"
