package rediskv

import (
	"strconv"
	"strings"
	"sync"
)

// Redis Cluster hashing: a key's slot is CRC16(tag) mod 16384, where tag
// is the part between the first "{" and the first "}" after it when that
// part is not empty, and the whole key otherwise.
const numSlots = 16384

// hashPart returns the part of key that Redis Cluster hashes.
func hashPart(key string) string {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e]
		}
	}
	return key
}

// keySlot is the Redis Cluster slot of key (CLUSTER KEYSLOT).
func keySlot(key string) uint16 {
	return crc16(hashPart(key)) % numSlots
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial 0), the checksum
// Redis Cluster uses.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// lockKey names the lock of key: in the "kvcache-lock:" namespace (so
// container scans never see it) and in key's cluster slot, so that a key
// and its lock always live on one node. The lock carries key's hash part
// as its hash tag: "kvcache-lock:{<hash part>}<key>". A hash part that
// cannot be written as a tag (it contains "}", possible only when the
// whole key is hashed, or it is empty) is replaced by a short brace-free
// tag chosen to hash to the same slot.
func lockKey(key string) string {
	hp := hashPart(key)
	if hp == "" || strings.IndexByte(hp, '}') >= 0 {
		hp = slotTag(keySlot(key))
	}
	return lockNamespace + "{" + hp + "}" + key
}

var (
	slotTagsOnce sync.Once
	slotTags     [numSlots]string
)

// slotTag returns a short string of digits and letters whose CRC16 falls
// in slot (the table is built on first use: about 60,000 checksums).
func slotTag(slot uint16) string {
	slotTagsOnce.Do(func() {
		left := numSlots
		for i := 0; left > 0; i++ {
			t := strconv.FormatInt(int64(i), 36)
			if s := crc16(t) % numSlots; slotTags[s] == "" {
				slotTags[s] = t
				left--
			}
		}
	})
	return slotTags[slot]
}
