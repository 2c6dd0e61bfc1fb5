package suite

import "github.com/geostream/geostream/streamkit/scripts"

// scriptNames names geostream's scripts by SHA1 in the slow-log figures
// (an unknown SHA1 is shown by its first characters).
var scriptNames = map[string]string{
	scripts.Append.Hash():    "append.lua",
	scripts.Apply.Hash():     "apply.lua",
	scripts.ApplySums.Hash(): "applysums.lua",
}
