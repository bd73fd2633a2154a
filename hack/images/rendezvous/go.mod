module podgroup.dev/rendezvous

go 1.22
