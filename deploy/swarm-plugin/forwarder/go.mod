module dovesnap/swarm-plugin/forwarder

go 1.22
