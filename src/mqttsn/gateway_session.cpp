// Filled in by its implementer (see the header).
#include "mqttsn/gateway_session.hpp"
