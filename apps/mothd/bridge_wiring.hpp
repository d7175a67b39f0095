#pragma once
// How mothd connects its bridges (src/bridge) to the server: the local session's listener tag (trusted, with the
// bridge's queue limits), its state as a retained $SYS value, and its link for the HTTP API.
#include <memory>
#include <string>
#include <vector>

#include "bridge/bridge.hpp"
#include "broker/admin.hpp"
#include "config/bridge.hpp"
#include "http/api.hpp"

namespace moth::mothd {

[[nodiscard]] std::shared_ptr<const broker::ListenerTag> bridge_tag(const config::Bridge& b);
// "$SYS/broker/connection/<name>/state": "1" up, "0" down, retained (Mosquitto's notification topic).
[[nodiscard]] broker::BrokerPublish bridge_state(const std::string& name, bool up);
[[nodiscard]] std::vector<http::BridgeInfo> bridge_infos(const std::vector<bridge::BridgeStatus>& statuses);

}  // namespace moth::mothd
