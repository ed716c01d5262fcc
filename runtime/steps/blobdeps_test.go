package steps

import _ "github.com/johannesboyne/gofakes3" // pinned until the object-store tests import it
