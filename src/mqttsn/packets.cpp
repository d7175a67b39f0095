// Filled in by its implementer (see the header).
#include "mqttsn/packets.hpp"
