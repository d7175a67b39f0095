#pragma once
// Who a session's client is, as its last CONNECT established it: what authorization checks (issue 18) and the logs
// need, on any worker. Immutable: a new CONNECT makes a new one (SessionTag::set_identity).
#include <memory>
#include <string>

namespace moth::broker {

struct Identity {
    std::string client_id;
    std::string username;     // the CONNECT's User Name, or the certificate's CN (use_cn_as_username); may be empty
    std::string cert_cn;      // subject CN of a verified client certificate, empty without one
    std::string listener;     // the listener's name ("mqtt-0"); empty in unit tests
};

using IdentityPtr = std::shared_ptr<const Identity>;

}  // namespace moth::broker
