// rendezvous: a rank rendezvous that needs every rank, as distributed training launchers do
// before the first collective. Every rank connects to the leader (PODGROUP_LEADER_ADDRESS);
// the rendezvous is complete only while all PODGROUP_WORLD_SIZE ranks are connected. Then
// each rank writes /tmp/rendezvous ("session=<id> world=<n> rank=<r>"), which its readiness
// probe reads; a rank that drops makes the rendezvous incomplete for everyone until it is back.
// A rank restarted in place rejoins the session it left; a new leader process (a group
// restart) starts a new session, and every rank joins that one.
//
// Protocol, one line each way: rank -> leader "JOIN <rank> <world>", leader -> ranks
// "COMPLETE <session>" or "INCOMPLETE <session>". Standard library only.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const stateFile = "/tmp/rendezvous"

func mustInt(name string) int {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		log.Fatalf("%s: %v (set by the podgroup operator)", name, err)
	}
	return v
}

// setState records what the readiness probe reads: complete (session) or not ("").
func setState(session string, world, rank int) {
	if session == "" {
		os.Remove(stateFile)
		return
	}
	tmp := stateFile + ".tmp"
	body := fmt.Sprintf("session=%s world=%d rank=%d\n", session, world, rank)
	if err := os.WriteFile(tmp, []byte(body), 0o644); err == nil {
		os.Rename(tmp, stateFile)
	}
}

type leader struct {
	mu      sync.Mutex
	session string
	world   int
	rank    int
	ranks   map[int]net.Conn
}

func (l *leader) broadcastLocked() {
	word := "INCOMPLETE"
	if len(l.ranks)+1 == l.world {
		word = "COMPLETE"
		setState(l.session, l.world, l.rank)
	} else {
		setState("", l.world, l.rank)
	}
	log.Printf("%s: %d of %d ranks", strings.ToLower(word), len(l.ranks)+1, l.world)
	for _, c := range l.ranks {
		fmt.Fprintf(c, "%s %s\n", word, l.session)
	}
}

func (l *leader) serve(c net.Conn) {
	line, err := bufio.NewReader(c).ReadString('\n')
	var rank, world int
	if err == nil {
		_, err = fmt.Sscanf(line, "JOIN %d %d", &rank, &world)
	}
	if err != nil || world != l.world || rank < 0 || rank >= l.world || rank == l.rank {
		log.Printf("refused %s: %q (world %d)", c.RemoteAddr(), strings.TrimSpace(line), l.world)
		c.Close()
		return
	}
	l.mu.Lock()
	if old, ok := l.ranks[rank]; ok {
		old.Close()
	}
	l.ranks[rank] = c
	log.Printf("rank %d joined from %s", rank, c.RemoteAddr())
	l.broadcastLocked()
	l.mu.Unlock()
	// The connection carries nothing more; its end is the rank's end.
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	l.mu.Lock()
	if l.ranks[rank] == c {
		delete(l.ranks, rank)
		log.Printf("rank %d left", rank)
		l.broadcastLocked()
	}
	l.mu.Unlock()
}

func runLeader(port string, world, rank int) {
	id := make([]byte, 6)
	rand.Read(id)
	l := &leader{session: hex.EncodeToString(id), world: world, rank: rank, ranks: map[int]net.Conn{}}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("leader of session %s, waiting for %d ranks on :%s", l.session, world, port)
	l.mu.Lock()
	l.broadcastLocked()
	l.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go l.serve(c)
	}
}

func runRank(address string, world, rank int) {
	for {
		c, err := net.DialTimeout("tcp", address, 2*time.Second)
		if err != nil {
			log.Printf("waiting for the leader at %s: %v", address, err)
			time.Sleep(time.Second)
			continue
		}
		fmt.Fprintf(c, "JOIN %d %d\n", rank, world)
		r := bufio.NewScanner(c)
		for r.Scan() {
			var word, session string
			fmt.Sscanf(r.Text(), "%s %s", &word, &session)
			if word == "COMPLETE" {
				setState(session, world, rank)
				log.Printf("rendezvous complete: session %s, world %d, rank %d", session, world, rank)
			} else {
				setState("", world, rank)
				log.Printf("rendezvous incomplete (session %s): waiting for every rank", session)
			}
		}
		setState("", world, rank)
		c.Close()
		log.Printf("lost the leader; joining again")
		time.Sleep(500 * time.Millisecond)
	}
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	world, rank := mustInt("PODGROUP_WORLD_SIZE"), mustInt("PODGROUP_RANK")
	leaderHost := os.Getenv("PODGROUP_LEADER_ADDRESS")
	port := os.Getenv("RENDEZVOUS_PORT")
	if port == "" {
		port = "29400"
	}
	hostname, _ := os.Hostname()
	setState("", world, rank)
	if strings.SplitN(leaderHost, ".", 2)[0] == hostname {
		runLeader(port, world, rank)
	}
	runRank(net.JoinHostPort(leaderHost, port), world, rank)
}
