// A blocking subscriber that survives broker restarts: persistent session, automatic reconnect.
//     moth_example_subscriber [url] [filter]
#include <iostream>

#include <moth/client.hpp>

int main(int argc, char** argv) {
    moth::ConnectOptions options;
    options.url = argc > 1 ? argv[1] : "mqtt://localhost:1883";
    options.client_id = "example-subscriber";
    options.clean_start = false;               // keep the session (and queued QoS 1/2 messages) while away
    options.session_expiry_interval = 3600;    // 5.0: for an hour
    options.auto_reconnect = true;             // back-off 0.5 s .. 30 s with jitter
    moth::Client client(options);
    auto connected = client.connect();
    if (!connected) {
        std::cerr << "connect: " << connected.error().message << '\n';
        return 1;
    }
    std::cerr << "session present: " << connected->session_present << '\n';
    const std::string filter = argc > 2 ? argv[2] : "moth/#";
    if (auto r = client.subscribe(filter, moth::QoS::AtLeastOnce); !r) {
        std::cerr << "subscribe: " << r.error().message << '\n';
        return 1;
    }
    for (int idle = 0; idle < 6;) {
        if (auto m = client.receive(std::chrono::seconds(10))) {
            std::cout << m->topic << ' ' << m->payload_text() << std::endl;
            idle = 0;
        } else {
            ++idle;  // a minute without messages: stop
        }
    }
    client.disconnect();
    return 0;
}
