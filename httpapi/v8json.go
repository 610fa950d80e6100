package httpapi

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file reproduces what the original's body parser (body-parser 1.19 on
// Node 20, V8 11.3) answers for a JSON body: the exact SyntaxError texts of
// JSON.parse, positions counted in UTF-16 code units as JavaScript does.
// Clients only ever see these texts in 400 bodies, but they are part of the
// wire contract we replay.

// V8's message templates (src/common/message-template.h, V8 11.3).
const (
	v8UnexpectedEOS         = "Unexpected end of JSON input"
	v8UnexpectedNumber      = "Unexpected number in JSON at position %d"
	v8UnexpectedString      = "Unexpected string in JSON at position %d"
	v8ExpectedPropOrRBrace  = "Expected property name or '}' in JSON at position %d"
	v8ExpectedCommaOrRBrack = "Expected ',' or ']' after array element in JSON at position %d"
	v8ExpectedCommaOrRBrace = "Expected ',' or '}' after property value in JSON at position %d"
	v8ExpectedColon         = "Expected ':' after property name in JSON at position %d"
	v8ExpectedDoubleQuoted  = "Expected double-quoted property name in JSON at position %d"
	v8UnterminatedString    = "Unterminated string in JSON at position %d"
	v8BadControlCharacter   = "Bad control character in string literal in JSON at position %d"
	v8BadUnicodeEscape      = "Bad Unicode escape in JSON at position %d"
	v8BadEscapedCharacter   = "Bad escaped character in JSON at position %d"
	v8NoNumberAfterMinus    = "No number after minus sign in JSON at position %d"
	v8ExponentMissingNumber = "Exponent part is missing a number in JSON at position %d"
	v8UnterminatedFraction  = "Unterminated fractional number in JSON at position %d"
	v8NonWhitespaceAfter    = "Unexpected non-whitespace character after JSON at position %d"
)

// V8 quotes the whole source in "Unexpected token" messages only when it is
// shorter than v8MinSourceForContext; otherwise it quotes
// v8ContextChars units on each side of the bad token, with ellipses.
const (
	v8ContextChars        = 10
	v8MinSourceForContext = 2*v8ContextChars + 1
)

// endOfInput stands for "no character" (V8's kEndOfString).
const endOfInput = -1

// jsonKind is the type of a parsed JSON value.
type jsonKind int

const (
	kindString jsonKind = iota + 1
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

// topField is one member of a top-level JSON object: enough to read the
// string-ish DTO fields without building the whole tree.
type topField struct {
	kind jsonKind
	// start and end delimit the value's source text (for strings, the
	// content between the quotes).
	start, end int
}

// jsonDoc is a successfully parsed body.
type jsonDoc struct {
	src    []uint16
	kind   jsonKind
	fields map[string]topField // members of a top-level object; last one wins, as in JS
}

// decodeString returns the text of a top-level string member.
func (d *jsonDoc) decodeString(f topField) string {
	return utf16ToString(decodeJSONString(d.src[f.start:f.end]))
}

// v8Parser is a JSON.parse work-alike that validates the whole text with
// V8's error positions and texts. It keeps an explicit stack instead of
// recursing, so nesting depth is bounded only by the body size limit.
type v8Parser struct {
	src []uint16
	pos int
	err string
	doc *jsonDoc
}

// parseJSONLikeV8 parses src as JSON.parse would. On failure it returns V8's
// SyntaxError message.
func parseJSONLikeV8(src []uint16) (*jsonDoc, string) {
	p := &v8Parser{src: src, doc: &jsonDoc{src: src}}
	p.parse()
	if p.err != "" {
		return nil, p.err
	}
	return p.doc, ""
}

func (p *v8Parser) cur() int {
	if p.pos >= len(p.src) {
		return endOfInput
	}
	return int(p.src[p.pos])
}

func (p *v8Parser) skipWhitespace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *v8Parser) fail(format string) {
	if p.err == "" {
		p.err = sprintfPos(format, p.pos)
	}
}

func sprintfPos(format string, pos int) string {
	// Every template has exactly one %d, or none (the EOS text).
	for i := 0; i+1 < len(format); i++ {
		if format[i] == '%' && format[i+1] == 'd' {
			return format[:i] + strconv.Itoa(pos) + format[i+2:]
		}
	}
	return format
}

// failUnexpectedChar reports the character at the cursor the way V8's
// ReportUnexpectedCharacter does: the text depends on the character's token
// class.
func (p *v8Parser) failUnexpectedChar() {
	if p.err != "" {
		return
	}
	c := p.cur()
	switch {
	case c == endOfInput:
		p.err = v8UnexpectedEOS
	case c == '"':
		p.err = sprintfPos(v8UnexpectedString, p.pos)
	case c == '-' || (c >= '0' && c <= '9'):
		p.err = sprintfPos(v8UnexpectedNumber, p.pos)
	case isSpecialJSONSource(p.src):
		p.err = `"` + utf16ToWTF8(p.src) + `" is not valid JSON`
	default:
		p.err = unexpectedTokenMessage(p.src, p.pos)
	}
}

// isSpecialJSONSource reports the inputs V8 quotes whole: what String() of
// undefined, NaN, Infinity and a plain object would give.
func isSpecialJSONSource(src []uint16) bool {
	switch utf16ToWTF8(src) {
	case "[object Object]", "undefined", "Infinity", "NaN":
		return true
	}
	return false
}

func unexpectedTokenMessage(src []uint16, pos int) string {
	token := utf16ToWTF8(src[pos : pos+1])
	n := len(src)
	if n < v8MinSourceForContext {
		return "Unexpected token '" + token + `', "` + utf16ToWTF8(src) + `" is not valid JSON`
	}
	switch {
	case pos < v8ContextChars:
		return "Unexpected token '" + token + `', "` + utf16ToWTF8(src[:pos+v8ContextChars]) + `"... is not valid JSON`
	case pos < n-v8ContextChars:
		return "Unexpected token '" + token + `', ..."` + utf16ToWTF8(src[pos-v8ContextChars:pos+v8ContextChars]) + `"... is not valid JSON`
	default:
		return "Unexpected token '" + token + `', ..."` + utf16ToWTF8(src[pos-v8ContextChars:]) + `" is not valid JSON`
	}
}

// frame is an open container on the parser's stack.
type frame struct {
	object bool
	// top is set on the outermost object: its members are recorded.
	top      bool
	key      string
	valStart int
}

func (p *v8Parser) parse() {
	var stack []frame
	for {
		// Produce one value.
		p.skipWhitespace()
		start := p.pos
		var kind jsonKind
		switch c := p.cur(); {
		case c == '"':
			p.pos++
			s, _ := p.scanString()
			if p.err != "" {
				return
			}
			kind, start = kindString, s
		case c == '-' || (c >= '0' && c <= '9'):
			if !p.scanNumber() {
				return
			}
			kind = kindNumber
		case c == 't':
			kind = kindTrue
			if !p.scanLiteral("true") {
				return
			}
		case c == 'f':
			kind = kindFalse
			if !p.scanLiteral("false") {
				return
			}
		case c == 'n':
			kind = kindNull
			if !p.scanLiteral("null") {
				return
			}
		case c == '{':
			p.pos++
			p.skipWhitespace()
			if p.cur() == '}' {
				p.pos++
				kind = kindObject
				break
			}
			if p.cur() != '"' {
				p.fail(v8ExpectedPropOrRBrace)
				return
			}
			key, ok := p.scanKey()
			if !ok {
				return
			}
			stack = append(stack, frame{object: true, top: len(stack) == 0, key: key})
			if len(stack) == 1 {
				p.doc.kind = kindObject
				p.doc.fields = make(map[string]topField)
			}
			if !p.expectColon() {
				return
			}
			stack[len(stack)-1].valStart = p.pos
			continue
		case c == '[':
			p.pos++
			p.skipWhitespace()
			if p.cur() == ']' {
				p.pos++
				kind = kindArray
				break
			}
			stack = append(stack, frame{})
			continue
		default:
			p.failUnexpectedChar()
			return
		}

		// Consume produced values until another one must be produced.
		for {
			if len(stack) == 0 {
				if p.doc.kind == 0 {
					p.doc.kind = kind
				}
				p.skipWhitespace()
				if p.cur() != endOfInput {
					p.fail(v8NonWhitespaceAfter)
				}
				return
			}
			top := &stack[len(stack)-1]
			if top.top && kind != 0 {
				f := topField{kind: kind, start: start, end: p.pos}
				if kind == kindString {
					f.end = p.pos - 1 // drop the closing quote
				} else {
					f.start = top.valStart
					p.trimValueStart(&f)
				}
				p.doc.fields[top.key] = f
			}
			p.skipWhitespace()
			if top.object {
				if p.cur() == ',' {
					p.pos++
					p.skipWhitespace()
					if p.cur() != '"' {
						p.fail(v8ExpectedDoubleQuoted)
						return
					}
					key, ok := p.scanKey()
					if !ok {
						return
					}
					top.key = key
					// V8 11.3 gives the colon after a later key no message of
					// its own: the text depends on the token found instead.
					p.skipWhitespace()
					if p.cur() != ':' {
						p.failUnexpectedChar()
						return
					}
					p.pos++
					top.valStart = p.pos
					break
				}
				if p.cur() != '}' {
					p.fail(v8ExpectedCommaOrRBrace)
					return
				}
				p.pos++
				stack = stack[:len(stack)-1]
				kind, start = kindObject, 0
				continue
			}
			if p.cur() == ',' {
				p.pos++
				break
			}
			if p.cur() != ']' {
				p.fail(v8ExpectedCommaOrRBrack)
				return
			}
			p.pos++
			stack = stack[:len(stack)-1]
			kind, start = kindArray, 0
		}
	}
}

// trimValueStart moves a non-string member's start past the whitespace
// that followed the colon.
func (p *v8Parser) trimValueStart(f *topField) {
	for f.start < f.end {
		switch p.src[f.start] {
		case ' ', '\t', '\n', '\r':
			f.start++
		default:
			return
		}
	}
}

// scanKey scans the property name at the cursor (an opening quote) and
// returns it decoded.
func (p *v8Parser) scanKey() (string, bool) {
	p.pos++
	start, ok := p.scanString()
	if !ok {
		return "", false
	}
	return utf16ToString(decodeJSONString(p.src[start : p.pos-1])), true
}

func (p *v8Parser) expectColon() bool {
	p.skipWhitespace()
	if p.cur() != ':' {
		p.fail(v8ExpectedColon)
		return false
	}
	p.pos++
	return true
}

// scanString scans from just after an opening quote to just after the
// closing one and returns where the content starts.
func (p *v8Parser) scanString() (int, bool) {
	start := p.pos
	for {
		c := p.cur()
		switch {
		case c == endOfInput:
			p.fail(v8UnterminatedString)
			return 0, false
		case c == '"':
			p.pos++
			return start, true
		case c == '\\':
			p.pos++
			e := p.cur()
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos++
			case 'u':
				for range 4 {
					p.pos++
					if hexValue(p.cur()) < 0 {
						p.fail(v8BadUnicodeEscape)
						return 0, false
					}
				}
				p.pos++
			default:
				if e == endOfInput || e > 0xFF {
					p.failUnexpectedChar()
				} else {
					p.fail(v8BadEscapedCharacter)
				}
				return 0, false
			}
		case c < 0x20:
			p.fail(v8BadControlCharacter)
			return 0, false
		default:
			p.pos++
		}
	}
}

func isDigit(c int) bool { return c >= '0' && c <= '9' }

// isNumberPart is V8's character class of things that may continue a number.
func isNumberPart(c int) bool {
	return isDigit(c) || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+'
}

func (p *v8Parser) skipDigits() {
	for isDigit(p.cur()) {
		p.pos++
	}
}

// scanNumber follows V8's ParseJsonNumber, including where it reports.
func (p *v8Parser) scanNumber() bool {
	negative := p.cur() == '-'
	if negative {
		p.pos++
	}
	if p.cur() == '0' {
		p.pos++
		c := p.cur()
		if isNumberPart(c) {
			if isDigit(c) {
				p.fail(v8UnexpectedNumber)
				return false
			}
		} else if !negative {
			return true
		}
	} else {
		if !isDigit(p.cur()) {
			p.fail(v8NoNumberAfterMinus)
			return false
		}
		p.skipDigits()
	}
	if p.cur() == '.' {
		p.pos++
		if !isDigit(p.cur()) {
			p.fail(v8UnterminatedFraction)
			return false
		}
		p.skipDigits()
	}
	if c := p.cur(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.cur(); c == '-' || c == '+' {
			p.pos++
		}
		if !isDigit(p.cur()) {
			p.fail(v8ExponentMissingNumber)
			return false
		}
		p.skipDigits()
	}
	return true
}

// scanLiteral matches true, false or null at the cursor (whose first
// letter is known to match) and reports the first mismatch like V8.
func (p *v8Parser) scanLiteral(word string) bool {
	p.pos++
	for i := 1; i < len(word); i++ {
		c := p.cur()
		if c == endOfInput {
			p.failUnexpectedChar()
			return false
		}
		if c != int(word[i]) {
			p.failUnexpectedChar()
			return false
		}
		p.pos++
	}
	return true
}

func hexValue(c int) int {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return -1
}

// decodeJSONString resolves the escapes of a string body already validated
// by scanString.
func decodeJSONString(s []uint16) []uint16 {
	out := make([]uint16, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			v := 0
			for k := 1; k <= 4; k++ {
				v = v*16 + hexValue(int(s[i+k]))
			}
			out = append(out, uint16(v))
			i += 4
		default: // '"', '\\', '/'
			out = append(out, s[i])
		}
	}
	return out
}

// decodeUTF8 turns request bytes into UTF-16 the way Node's UTF-8 decoder
// does: each maximal invalid subsequence becomes one U+FFFD (WHATWG).
func decodeUTF8(b []byte) []uint16 {
	out := make([]uint16, 0, len(b))
	for i := 0; i < len(b); {
		r, size := decodeRuneWHATWG(b[i:])
		i += size
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			out = append(out, uint16(r1), uint16(r2))
		} else {
			out = append(out, uint16(r))
		}
	}
	return out
}

// decodeRuneWHATWG decodes one code point or one maximal invalid subpart.
func decodeRuneWHATWG(b []byte) (rune, int) {
	c := b[0]
	var need int
	lower, upper := byte(0x80), byte(0xBF)
	var r rune
	switch {
	case c < 0x80:
		return rune(c), 1
	case c >= 0xC2 && c <= 0xDF:
		need, r = 1, rune(c&0x1F)
	case c >= 0xE0 && c <= 0xEF:
		need, r = 2, rune(c&0x0F)
		if c == 0xE0 {
			lower = 0xA0
		} else if c == 0xED {
			upper = 0x9F
		}
	case c >= 0xF0 && c <= 0xF4:
		need, r = 3, rune(c&0x07)
		if c == 0xF0 {
			lower = 0x90
		} else if c == 0xF4 {
			upper = 0x8F
		}
	default:
		return utf8.RuneError, 1
	}
	i := 1
	for ; i <= need; i++ {
		if i >= len(b) || b[i] < lower || b[i] > upper {
			return utf8.RuneError, i
		}
		r = r<<6 | rune(b[i]&0x3F)
		lower, upper = 0x80, 0xBF
	}
	return r, i
}

// utf16ToString converts to a Go string; lone surrogates become U+FFFD.
func utf16ToString(s []uint16) string {
	return string(utf16.Decode(s))
}

// utf16ToWTF8 converts to a Go string but keeps lone surrogates as their
// 3-byte generalized UTF-8 form, so jsStringify can escape them as
// JSON.stringify does ("\ud83d") instead of losing them.
func utf16ToWTF8(s []uint16) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		if utf16.IsSurrogate(c) && c < 0xDC00 && i+1 < len(s) && s[i+1] >= 0xDC00 && s[i+1] <= 0xDFFF {
			b = utf8.AppendRune(b, utf16.DecodeRune(c, rune(s[i+1])))
			i++
			continue
		}
		if utf16.IsSurrogate(c) {
			b = append(b, 0xED, byte(0x80|(c>>6)&0x3F), byte(0x80|c&0x3F))
			continue
		}
		b = utf8.AppendRune(b, c)
	}
	return string(b)
}
