#include "server/listen.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/system/system_error.hpp>

#include "server/server.hpp"

namespace moth::server::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::unique_ptr<tcp::acceptor> open_acceptor(asio::io_context& ioc, const config::Listener& lc, std::size_t index,
                                             const std::string& name) {
    const std::string where = lc.bind + ":" + std::to_string(lc.port);
    tcp::endpoint ep;
    try {
        tcp::resolver resolver(ioc);
        ep = resolver.resolve(lc.bind, std::to_string(lc.port), tcp::resolver::passive | tcp::resolver::numeric_service)
                 .begin()
                 ->endpoint();
    } catch (const boost::system::system_error& e) {
        throw ListenerStartError(index, "bind", "listener " + name + ": cannot resolve " + lc.bind + ": " +
                                                    e.code().message());
    }
    auto acceptor = std::make_unique<tcp::acceptor>(ioc);
    try {
        acceptor->open(ep.protocol());
        acceptor->set_option(tcp::acceptor::reuse_address(true));
        if (ep.address().is_v6()) acceptor->set_option(asio::ip::v6_only(false));
        acceptor->bind(ep);
        acceptor->listen(asio::socket_base::max_listen_connections);
        acceptor->native_non_blocking(true);  // shed_backlog() accepts on the descriptor directly
    } catch (const boost::system::system_error& e) {
        throw ListenerStartError(index, "port", "listener " + name + ": cannot listen on " + where + ": " +
                                                    e.code().message());
    }
    return acceptor;
}


}  // namespace moth::server::detail
