// Per-listener context (stream_connection.hpp): made once at start, its TLS context and Origin list replaced on
// SIGHUP.
#include <exception>

#include "common/error_text.hpp"
#include "server/stream_connection.hpp"
#include "server/tls.hpp"

namespace moth::server::detail {

namespace {

// The TLS context and Origin list of a listener; `announce`: log where the development certificate is.
std::shared_ptr<const ListenerContext::Reloadable> make_reloadable(
    const std::string& name, const config::Listener& listener, const config::Config& config,
    const std::function<void(int, const std::string&)>& log, bool announce) {
    auto r = std::make_shared<ListenerContext::Reloadable>();
    r->allowed_origins = listener.allowed_origins;
    r->source = listener;
    if (config::is_tls(listener.kind)) {
        std::string cert = listener.cert_file;
        std::string key = listener.key_file;
        if (cert.empty() && key.empty()) {
            const DevCertificate dev = ensure_dev_certificate(config.data_dir);
            cert = dev.cert_file;
            key = dev.key_file;
            if (log && announce) {
                log(2, "listener " + name + ": no cert_file configured; using the development certificate " + cert +
                           (dev.created ? " (created now)" : "") + " for localhost, 127.0.0.1 and ::1");
                log(2, "listener " + name + ": clients must trust the development CA " + dev.ca_file +
                           " (mosquitto_sub --cafile, moth --cafile; browsers: import it as a trusted authority)");
            }
        }
        r->tls = make_server_tls_context(listener, cert, key);
    }
    return r;
}

}  // namespace

std::shared_ptr<ListenerContext> make_listener_context(const std::string& name, const config::Listener& listener,
                                                       const config::Config& config,
                                                       const std::function<void(int, const std::string&)>& log) {
    auto lc = std::make_shared<ListenerContext>();
    lc->name = name;
    lc->kind = listener.kind;
    lc->ws_path = listener.ws_path.empty() ? "/mqtt" : listener.ws_path;
    lc->max_frame_size = config.limits.max_packet_size;
    lc->use_cn_as_username = listener.use_cn_as_username;
    lc->proxy_protocol = listener.proxy_protocol;
    lc->trust_x_forwarded_for = listener.trust_x_forwarded_for;
    lc->max_connections = listener.max_connections;
    const std::string kind(config::to_string(listener.kind));
    lc->tag = std::make_shared<const broker::ListenerTag>(broker::ListenerTag{name, kind, nullptr});
    lc->replace(make_reloadable(name, listener, config, log, true));
    return lc;
}

void reload_listener_context(ListenerContext& lc, const config::Listener& listener, const config::Config& config,
                             const std::function<void(int, const std::string&)>& log) {
    try {
        lc.replace(make_reloadable(lc.name, listener, config, log, false));
        if (log && config::is_tls(listener.kind)) {
            log(1, "listener " + lc.name + ": TLS certificate, key and CA reloaded" +
                       (listener.cert_file.empty() ? std::string(" (development certificate)")
                                                   : " from " + listener.cert_file));
        }
    } catch (const std::exception& e) {
        if (log) log(3, "listener " + lc.name + ": reload failed, keeping the running TLS settings: " + common::error_text(e.what()));
    }
}

}  // namespace moth::server::detail
