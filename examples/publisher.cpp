// A blocking publisher: connects, publishes one message at each QoS, disconnects.
//     moth_example_publisher [url]
#include <iostream>

#include <moth/client.hpp>

int main(int argc, char** argv) {
    moth::Client client({.url = argc > 1 ? argv[1] : "mqtt://localhost:1883", .client_id = "example-publisher"});
    if (auto r = client.connect(); !r) {
        std::cerr << "connect: " << r.error().message << '\n';
        return 1;
    }
    for (const auto qos : {moth::QoS::AtMostOnce, moth::QoS::AtLeastOnce, moth::QoS::ExactlyOnce}) {
        // QoS 1 and 2 return once the broker acknowledged the message (PUBACK / PUBCOMP).
        auto r = client.publish("moth/example", "hello at QoS " + std::to_string(static_cast<int>(qos)), qos);
        if (!r) {
            std::cerr << "publish: " << r.error().kind_name() << ": " << r.error().message << '\n';
            return 1;
        }
    }
    client.disconnect();
    return 0;
}
