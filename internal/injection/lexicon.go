package injection

import (
	"math/bits"
	"strings"
)

// A concept is one meaning the rules look for, whatever the language: the
// verb "ignore" is ignore, ignoriere, ignorez, ignora, negeer and esquece.
// Words are written folded (lower case, no accents); a trailing '*' makes
// the entry a prefix.
type concept uint64

const (
	cIgnore concept = 1 << iota
	cPrior
	cInstr
	cNew
	cYou
	cNow
	cBecome
	cPersona
	cMode
	cEnable
	cWithout
	cLimits
	cReveal
	cSecretQ
	cPrompt
	cSecret
	cCall
	cTool
	cSend
	cData
	cTarget // a URL or an e-mail address
	cLog
	cDisable
	cSecretly
	cAuthority
	cFrom
	cMessage
	cAuthorized
	cRedTeam
	cAssistant
	cAttention
	cPretend
	cAbove
	cStart
	cWords
	cReverse
	cLetter
	cEach
	cTell
	cNot
	cUser
	cDelete
	cInstead
	cRespond
	cMeta // talk about attacks, examples and detection
	cTold
	cObey
	cOnly
	cMe
	cCharacter
	cNever
	cRefuse
	cSpecialMode
	cSysSecret
	cAll
	cApproval
	cBank
	cProcess
	cFor
	cMust
	cPay
	cMention // words that introduce a quoted or cited phrase ("such as", "like")
	cPostFor // "to" written after the addressee (Japanese へ, Korean 에게, Hindi के लिए)
)

var conceptNames = map[string]concept{
	"ignore": cIgnore, "prior": cPrior, "instr": cInstr, "new": cNew, "you": cYou, "now": cNow,
	"become": cBecome, "persona": cPersona, "mode": cMode, "enable": cEnable, "without": cWithout,
	"limits": cLimits, "reveal": cReveal, "secretq": cSecretQ, "prompt": cPrompt, "secret": cSecret,
	"call": cCall, "tool": cTool, "send": cSend, "data": cData, "target": cTarget, "log": cLog,
	"disable": cDisable, "secretly": cSecretly, "authority": cAuthority, "from": cFrom,
	"message": cMessage, "authorized": cAuthorized, "redteam": cRedTeam, "assistant": cAssistant,
	"attention": cAttention, "pretend": cPretend, "above": cAbove, "start": cStart, "words": cWords,
	"reverse": cReverse, "letter": cLetter, "each": cEach, "tell": cTell, "not": cNot, "user": cUser,
	"delete": cDelete, "instead": cInstead, "respond": cRespond, "meta": cMeta, "told": cTold, "obey": cObey, "only": cOnly, "me": cMe, "character": cCharacter, "never": cNever, "refuse": cRefuse, "specialmode": cSpecialMode, "syssecret": cSysSecret, "all": cAll, "approval": cApproval, "bank": cBank, "process": cProcess, "for": cFor, "must": cMust, "pay": cPay, "mention": cMention, "postfor": cPostFor,
}

// lexicon lists each concept's words in English, German, French, Spanish,
// Italian, Dutch and Portuguese.
var lexicon = map[concept]string{
	cIgnore: `ignore* ignoring disregard* forget* forgot skip bypass* override* overrid* overwrite* discard*
		abandon* neglect* drop dismiss* nevermind unlearn* void revoked revoke* cancel* annul* nullif* invalid* deprecated obsolete outdated suspend*
		ungultig* aufgehoben beiseite hinweg annule* annulee* caduque* anulad* anula* invalidad* annullat* ongeldig vervallen cancelad* anulad* invalidad*
		ignorier* vergiss vergessen vergesst missacht* uberspring* umgeh* verwirf* verwerf*
		ignor* oublie* oubli* outrepass* contourn* ecarte* abstraction
		olvida* olvide* olvid* omit* descart* desestim* caso omiso pasa* salta*
		dimentic* trascur* tralascia* scorda* scordati
		negeer* vergeet* negeren overslaan
		esquec* desconsider* despreza* desrespeit*`,
	cPrior: `previous* prior preceding foregoing earlier initial original existing above former all any every
		old current default
		vorherig* vorige* vorigen bisherig* obig* fruher* vorangegangen* alle allen alten ursprunglich*
		precedent* anterieur* dessus toutes tous initiales initial* origin* anciennes
		anterior* previa* previo* todas todos iniciales original* viejas
		precedent* tutte tutti iniziali originali sopra vecchie
		vorige eerdere bovenstaande alle oude oorspronkelijke
		anteriores anterior todas todos iniciais originais acima antigas`,
	cInstr: `instruction* instructed rules rule prompt* directions directive* guideline* guardrail* constraints
		restrictions programming orders commands policies policy context safeguards filters training guidance setup
		anweisung* instruktion* regeln vorgaben befehl* richtlinie* einschrankung* programmierung
		consigne* regle* directive* ordres instruc* contraintes
		instruccion* reglas indicaciones directrices ordenes restricciones normas
		istruzion* regole direttive indicazioni ordini restrizioni
		instructie* regels richtlijnen opdracht* aanwijzing* beperkingen
		instrucoes instrucao regras diretriz* orientac* ordens restricoes`,
	cNew: `new updated real actual revised true following these
		neue neuen neues aktualisiert* folgende
		nouvelle* nouveaux vraies suivantes
		nueva* nuevas nuevo verdadera* siguientes
		nuove nuova vere seguenti
		nieuwe echte volgende
		nova novas verdadeira* seguintes`,
	cYou:    `you your yourself du dein deine deinen dir dich ihr euch sie tu ton ta tes vous votre vos toi usted tus sus te ti tuo tua tuoi tue voi je jij jouw uw jullie voce seu sua seus suas`,
	cNow:    `now henceforth onwards forward jetzt nun nunmehr sofort maintenant desormais ahora adelante ora poi nu voortaan agora diante`,
	cBecome: `become act behave roleplay role-play personify embody werde sei spiele verhalte deviens agis comporte conviertete actua comportate diventa agisci word gedraag speel torne aja comporte-se`,
	cPersona: `dan jailbreak* jailbroken unrestricted unfiltered uncensored unlocked evil stan dude aim
		developer dev maintenance debug god sudo root superuser unbound limitless amoral
		entwickler wartung* entwickl* developpeur maintenance desarrollador mantenimiento sviluppatore manutenzione
		ontwikkelaar onderhoud desenvolvedor manutencao`,
	cMode:   `mode modus modo modalita`,
	cEnable: `enable enabled activate activated enter entering switch engage unlock turn aktivier* schalte wechsle activ* passe entre habilita* attiva* abilita* activeer schakel ative ativa* ligue entra`,
	cWithout: `no without free unbound zero non
		ohne keine kein frei sans aucune aucun libre sin ningun ninguna libre senza nessuna nessun libero zonder geen vrij sem nenhuma nenhum livre`,
	cLimits: `restriction* limit* filter* rules censor* boundaries guidelines guardrails ethics morals safety policies moderation confines checks safeguards
		einschrankung* grenzen regeln zensur* filter
		restriction* limite* regles censure
		restriccion* limites reglas censura
		restrizion* limiti regole censura
		beperking* grenzen regels censuur
		restricoes limites regras censura`,
	cReveal: `reveal* print* show* output* repeat* display* tell leak* dump* give write list spell recite copy
		paste echo expose* disclose* divulge* share provide return translate summarize summarise type
		zeig* gib nenne verrat* wiederhol* ausgeb* drucke* schreib* offenlege*
		montre* affiche* revele* repete* donne* ecris* divulgue* imprime* dis
		muestra* revela* repite* dame* escribe* imprime* dime divulga*
		mostra* rivela* ripeti* dammi scrivi* stampa* dimmi divulga*
		toon* laat onthul* herhaal* geef schrijf* print*
		mostre* revele* repita* escreva* imprima* diga divulgue*
		recopie* copie* copia* ricopia* kopieer* kopier* copie*`,
	cSecretQ: `system hidden secret internal confidential initial original first verbatim exact full complete entire raw underlying
		system* versteckt* geheim* intern* vertraulich* ursprunglich* vollstandig* wortlich*
		systeme cache* secret* interne* confidentiel* complet* mot
		sistema ocult* secret* intern* confidencial* complet* literal*
		nascost* segret* intern* riservat* complet* testuale
		systeem verborgen geheime interne vertrouwelijke volledige letterlijk*
		sistema oculto* secret* intern* confidencia* complet* literal*`,
	cPrompt: `prompt* systeemprompt* instruction* instructions rules message* context configuration config guidelines directives preamble
		systemprompt* anweisung* regeln nachricht* konfiguration
		consigne* regle* message* configuration
		instruccion* reglas mensaje* configuracion
		istruzion* regole messaggi* configurazione
		instructie* regels bericht* configuratie
		instruc* regras mensage* configurac*`,
	cSecret: `password* passwd credential* secret secrets token* apikey* api_key keys key private ssh env environment
		variables dotenv .env passwort* passworter zugangsdaten geheimnis* schlussel* kennwort*
		passe identifiants secrets cle cles
		contrasena* credencial* clave* secretos
		credenzial* chiave* segreti
		wachtwoord* inloggegevens sleutel* geheimen
		senha* credenciais chave* segredos`,
	cCall: `call calling invoke* run execute* trigger* use utilize utilise fire ruf* rufe aufrufen ausfuhr* fuhre verwende* nutze* appelle* execute* utilise* lance* declenche* llama* ejecuta* usa* invoca* utiliza* chiama* esegui* usa* invoca* utilizza* roep* voer* gebruik* chame* execute* use* utilize* acione*`,
	cTool: `tool* function* skill* plugin* api endpoint* webhook* command* action* werkzeug* funktion* befehl* outil* fonction* commande* herramienta* funcion* comando* strumento* funzione* comando* tool functie* opdracht* ferramenta* funcao comando*`,
	cSend: `send* leite forward* email* e-mail* mail* post* upload* transmit* exfiltrat* export* share* leak* copy* submit* sync* deliver* relay* sende* senden schick* weiterleit* ubermittel* ubertrag* hochlad* envoie* envoy* transmet* transfere* partage* exporte* envia* enviar reenvia* transmite* comparte* exporta* invia* inoltra* trasmetti* condividi* esporta* stuur* verstuur* doorsturen deel exporteer* envie* encaminh* transmita* compartilh* exporte*`,
	cData: `conversation* chat* history transcript* data database* records customer* client* contacts contact* list
		messages everything credentials passwords tokens keys files documents pii emails logs dump memory memories
		unterhaltung* verlauf* daten kunden* kontakte* nachrichten alles datenbank*
		conversation* historique donnees client* contacts tout base
		conversacion* historial datos cliente* contactos todo
		conversazion* cronologia dati client* contatti tutto
		gesprek* geschiedenis gegevens klant* contacten alles
		conversa* historico dados cliente* contatos tudo`,
	cLog: `logging log logs audit* monitoring trail alerts traces telemetry protokoll* uberwachung journal* journaux registro* registr* monitoraggio controle logboek* registos`,
	cDisable: `disable* deactivat* turn stop* delete* erase* clear* wipe* remove* purge* suppress* shut
		deaktivier* losch* entfern* abschalt* schalte
		desactiv* supprime* efface* arrete*
		desactiva* borra* elimina* apaga*
		disattiva* cancella* elimina* rimuovi* spegni*
		uitschakel* verwijder* wis schakel
		desativ* apague* exclua* remova* delete*`,
	cSecretly: `secretly silently quietly covertly discreetly unnoticed heimlich unbemerkt secretement discretement silencieusement secretamente silenciosamente segretamente silenziosamente stiekem ongemerkt`,
	cAuthority: `admin* administrator* sysadmin security developer* openai anthropic creator* owner ceo cto ciso it
		moderator* staff operator* management headquarters compliance legal support engineering devops platform
		administrat* sicherheit* entwickler* geschaftsfuhrung* sicherheitsteam
		administrat* securite developpeur* direction
		administrad* seguridad desarrollador* direccion
		amministrat* sicurezza sviluppator* direzione
		beheerder* beveiliging ontwikkelaar* directie
		administrad* seguranca desenvolvedor* diretoria`,
	cFrom:       `from by von vom de du des par del da dal dalla van door do pela pelo`,
	cMessage:    `message* notice note nota notiz remarque opmerking observacao instruction* order* update alert* announcement memo directive nachricht* mitteilung* hinweis anweisung* mensaje* aviso messaggio* avviso bericht* mededeling mensagem aviso`,
	cAuthorized: `authorized authorised approved sanctioned permitted allowed official autorisiert* genehmigt* erlaubt* autorise* approuve* autorizad* aprobad* permitid* autorizzat* approvat* consentit* geautoriseerd* goedgekeurd* toegestaan autorizad* aprovad* permitid*`,
	cRedTeam:    `red-team redteam red pentest* penetration security-test jailbreak-test`,
	cAssistant:  `ai assistant* chatbot* bot llm* gpt* claude gemini copilot ki assistent* ia asistente* assistente* assistant`,
	cAttention:  `attention important urgent dear hey hello note notice attention: achtung wichtig dringend liebe* lieber cher chere atencion importante querido* attenzione caro cara belangrijk beste atencao`,
	cPretend:    `pretend imagine suppose roleplay role-play hypothetically simulate alsof finge finja fingi imagina immagina imagine* stellen`,
	cAbove:      `above preceding foregoing aforementioned oben obige obigen dessus arriba anteriormente sopra boven bovenstaande acima`,
	cStart:      `starting start beginning begin beginnend anfangend commencant empezando comenzando iniziando beginnend comecando`,
	cWords:      `word words text sentence sentences line lines paragraph paragraphs everything content woerter worter text mots texte palabras texto parole testo woorden tekst palavras`,
	cReverse:    `backwards reverse* reversed rueckwarts ruckwarts umgekehrt* envers inverse* revés reves alreves invertit* rovescio omgekeerd* achterstevoren invertid* contrario`,
	cLetter:     `letter* character* initial* buchstabe* lettre* letra* lettera* letter* letra*`,
	cEach:       `each every jede* jedes chaque cada ogni elke iedere cada`,
	cTell:       `tell inform* notify* mention* alert* warn* sag* erwahn* inform* benachrichtig* dis mentionne* previens dile menciona* avisa* informa* dire menziona* avvisa* vertel* meld* waarschuw* conte mencione* avise*`,
	cNot:        `not dont don't stop never nicht nie kein ne pas jamais no nunca non mai niet nooit nao nunca without ohne sans sin senza zonder sem`,
	cUser:       `user* customer* human* person* benutzer* nutzer* kunde* utilisateur* client* usuario* cliente* utente* gebruiker* klant* usuario* cliente*`,
	cDelete:     `delete* erase* wipe* remove* purge* destroy* drop truncate* losch* entfern* supprime* efface* borra* elimina* cancella* rimuovi* verwijder* wis apague* exclua* remova* apaga*`,
	cInstead:    `instead rather stattdessen vielmehr plutot lugar invece plaats vez`,
	cMeta: `example* e.g eg such phrase* pattern* injection* jailbreak* attack* attacker* flagged detector*
		detection quiz slide* false-positive phishing awareness quoting quoted payload* regex* signature*
		ticket* incident* detected blocked postmortem triage
		beispiel* formulierung* angriff* angreifer* erkennung* schulung* erkannt blockiert sicherheitsticket
		exemple* attaque* attaquant* detection detecte bloque
		ejemplo* ataque* atacante* deteccion detecto bloqueo frase* frasi phrases frasen
		esempio* attacco* attaccante* rilevamento rilevato bloccato segnalazione
		voorbeeld* zinnen aanval* aanvaller* detectie gedetecteerd geblokkeerd
		exemplo* ataque* atacante* deteccao detectad* bloquead* chamado
		injektion* inyeccion* iniezion* injectie* injecao injecoes`,
	// Words that introduce a phrase being cited rather than said ("a line
	// such as …", "phrases like …", "z. B. …", "du type …").
	cMention: `like such e.g eg example* instance saying wrote writing typed contain* phrase* sentence* token* string* wording quot* reads asking
		beispiel* etwa formulierung* satz satze lautet* enthalt*
		comme type exemple* phrase* contient
		como tipo ejemplo* frase* contiene
		tipo esempio* frase* contiene
		zoals voorbeeld* zin zinnen bevat
		exemplo* frase* contem`,
	cTold:        `told given said received taught fed programmed gesagt gegeben erhalten bekommen dit donne donnees recu recues dicho dado dadas recibido recibidas detto dato date ricevuto ricevute verteld gegeven gekregen ontvangen dito dado dadas recebido recebidas`,
	cObey:        `follow* obey* comply complies heed listen gehorch* befolg* folge folgst folgen obei* suis suivre suivez respecte* obedece* sigue* sigas cumple* obbedisc* segui* rispett* gehoorzaam* volg* obedec* segue* siga cumpra*`,
	cOnly:        `only solely exclusively nur ausschliesslich einzig* seulement uniquement solo solamente unicamente soltanto unicamente alleen enkel uitsluitend apenas somente`,
	cMe:          `me my mine i'm im mir mich mein meine meinen meiner mes mon ma moi mis mi me mio mia miei mie mijn mij m'n minha minhas meu meus`,
	cCharacter:   `character persona role rolle charakter personnage role personaje papel personaggio ruolo personage rol personagem`,
	cNever:       `never nie niemals jamais nunca mai nooit nunca`,
	cRefuse:      `refuse* decline* deny denies reject* verweiger* ablehn* refuse* refus* niega* rechaza* negar* rifiut* weiger* recus* negue* nega*`,
	cSpecialMode: `godmode devmode sudo entwicklermodus wartungsmodus debugmodus gottmodus adminmodus testmodus modedev ontwikkelaarsmodus onderhoudsmodus`,
	cSysSecret:   `api apikey* api_key vault credential* bearer token* smtp database connection env environment variables dotenv .env ssh private signing webhook secret secrets zugangsdaten umgebungsvariablen identifiants cle cles clave credencial* chiave credenzial* sleutel* inloggegevens chave credenciais`,
	cAll:         `all every entire whole complete full everything alle allen alles komplett* gesamt* ganz* vollstandig* tout toute toutes tous complet* entier* entiere* todo todos toda todas completo completa entero entera tutto tutti tutte intero intera hele gehele volledig* allemaal inteiro inteira`,
	cApproval:    `approval* approv* verification verify checking check checks validation review sign-off four-eyes freigabe* genehmigung* prufung* kontrolle verifizierung vier-augen-prinzip controle approbation accord aprobacion autorizacion verificacion validacion revision doble approvazione autorizzazione verifica controllo convalida goedkeuring verificatie toestemming aprovacao autorizacao verificacao validacao`,
	cBank:        `iban bank* account* konto* bankverbindung* compte* rib cuenta* bancari* conto* rekening* conta* swift bic routing`,
	cProcess:     `read* reads processing process* handl* visit* summariz* summaris* pars* scan* index* crawl* liest lesen lese verarbeit* zusammenfass* lit lisez lisent traite* resume* analyse* lee leen procesa* resum* analiza* legge leggi elabora* riassum* gestisc* leest lezen verwerk* samenvat* le leia processa* gerencia* analis*`,
	cFor:         `for to fur an aux pour para per all al alla aan voor ao`,
	cMust:        `must should shall needs soll sollst sollen muss musst mussen doit doivent devez dois debe deben debes tiene deve devono devi moet moeten dient devem precisa`,
	cPay:         `pay paying payment* transfer* wire refund* zahl* bezahl* uberweis* erstatt* paie* payer paiement* virement* rembours* paga* pagar pago* transferencia* reembols* bonifico* rimbors* betaal* overschrijv* overmaken terugbetal* pague pagamento* transferir reembols*`,
	cRespond:     `respond* answer* reply* replies output* antworte* antwort* reponds* repondre reponse* responde* contesta* rispondi* risposta* antwoord* beantwoord* responda* resposta*`,
}

// lexiconIndex holds the lexicon's whole words and prefix entries; words
// are looked up through detectorTables.trie, built from it.
type lexiconIndex struct {
	exact    map[string]concept
	prefix   map[string]concept
	prefLens []int // distinct prefix lengths, ascending
	// wide holds the entries whose folded form is not ASCII (Cyrillic,
	// Greek, Arabic, Hebrew, Devanagari, Hangul; see lexiconMore), cjk the
	// Chinese and Japanese ones.
	wide wideLexicon
	cjk  cjkLexicon
}

func buildLexicon() *lexiconIndex {
	ix := &lexiconIndex{exact: map[string]concept{}, prefix: map[string]concept{}}
	ix.wide.init()
	ix.cjk.init()
	lens := map[int]bool{}
	var f folded
	for _, lx := range []map[concept]string{lexicon, lexiconMore} {
		for c, words := range lx {
			for _, w := range strings.Fields(words) {
				// Entries are folded as text is, so "précédentes" is
				// "precedentes" and a Russian word reads as its folding.
				pre := strings.HasSuffix(w, "*")
				f.fold(strings.TrimSuffix(w, "*"))
				w = string(f.b)
				if isCJKWord(w) {
					ix.cjk.add(w, c)
					continue
				}
				if !isASCII(w) {
					ix.wide.add(w, c, pre)
					continue
				}
				if pre {
					w += "*"
				}
				ix.addASCII(w, c, lens)
			}
		}
	}
	for n := range lens {
		ix.prefLens = append(ix.prefLens, n)
	}
	sortInts(ix.prefLens)
	for p := range ix.prefix {
		if len(p) < 3 {
			// wordTrie.lookup starts below the second byte.
			panic("injection: lexicon prefix shorter than three bytes: " + p)
		}
	}
	return ix
}

func (ix *lexiconIndex) addASCII(w string, c concept, lens map[int]bool) {
	if strings.HasSuffix(w, "*") {
		w = strings.TrimSuffix(w, "*")
		ix.prefix[w] |= c
		lens[len(w)] = true
		// A ROT13 spelling of a word reads as the word: "vtaber" is
		// "ignore". Rules need whole sequences, so a stray match of
		// one word does nothing.
		ix.prefix[rot13(w)] |= c
		return
	}
	ix.exact[w] |= c
	ix.exact[rot13(w)] |= c
}

// prefixLen is the length of the longest prefix entry w starts with (0
// when none).
func (ix *lexiconIndex) prefixLen(w []byte) int {
	best := 0
	for _, n := range ix.prefLens {
		if n > len(w) {
			break
		}
		if ix.prefix[string(w[:n])] != 0 {
			best = n
		}
	}
	return best
}

func rot13(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = 'a' + (c-'a'+13)%26
		case 'A' <= c && c <= 'Z':
			b[i] = 'A' + (c-'A'+13)%26
		}
	}
	return string(b)
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// wordTrie answers a word's lookup (its whole-word concepts and literal
// word, and the concepts of every prefix entry it starts with) in one walk
// over its bytes, instead of a map access per prefix length. A node's
// children are stored together, in byte order; mask has a bit per byte
// class (cls) that has a child, so a step is one table read and a
// population count.
type wordTrie struct {
	cls   [256]uint8 // byte class, noClass for bytes in no word
	nodes []trieNode // nodes[0] is the root
	// info[|nodes[n].info|] is what node n carries; most nodes carry
	// nothing (info 0, all zero), and keeping it apart keeps the nodes
	// the walk reads small. The index is negative when the node carries
	// a prefix concept, so the walk reads info only at those (few)
	// nodes and once at the last node.
	info []trieInfo
	// depth2[cls(b0)*nclass+cls(b1)] is a copy of the node of the two
	// bytes b0 b1 (mask 0: none): the walk of a longer word takes its
	// third byte from this small table, not from a node of the trie, which
	// saves a read from memory per word.
	depth2 []trieNode
	nclass int
}

const noClass = 0xFF

type trieNode struct {
	mask  uint64
	first int32 // the first child's index
	info  int32
}

type trieInfo struct {
	exact, prefix concept
	lit           uint16
}

// buildTrie makes the trie of words (whole words) and prefixes.
func buildTrie(words map[string]wordInfo, prefixes map[string]concept) *wordTrie {
	t := &wordTrie{}
	var used [256]bool
	for w := range words {
		for i := 0; i < len(w); i++ {
			used[w[i]] = true
		}
	}
	for p := range prefixes {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	n := 0
	for b := range 256 {
		t.cls[b] = noClass
		if used[b] {
			if n == 64 {
				panic("injection: more than 64 distinct bytes in the lexicon")
			}
			t.cls[b] = uint8(n)
			n++
		}
	}
	type bnode struct {
		wi     wordInfo
		prefix concept
		kids   [64]*bnode
	}
	root := &bnode{}
	at := func(w string) *bnode {
		n := root
		for i := 0; i < len(w); i++ {
			c := t.cls[w[i]]
			if n.kids[c] == nil {
				n.kids[c] = &bnode{}
			}
			n = n.kids[c]
		}
		return n
	}
	for w, wi := range words {
		n := at(w)
		n.wi.c |= wi.c
		n.wi.lit = wi.lit
	}
	for p, c := range prefixes {
		at(p).prefix |= c
	}
	// Depth first, children in class order, so the layout is fixed, each
	// node's children are adjacent, and the nodes of a word's walk lie
	// close together (breadth first spreads each level over the whole
	// array: a read from memory per byte).
	t.nodes = []trieNode{{}}
	t.info = []trieInfo{{}}
	t.nclass = n
	t.depth2 = make([]trieNode, n*n)
	var place func(id int, b *bnode)
	place = func(id int, b *bnode) {
		first := len(t.nodes)
		t.nodes[id].first = int32(first)
		var kids []*bnode
		for c, kb := range b.kids {
			if kb == nil {
				continue
			}
			t.nodes[id].mask |= 1 << c
			nd := trieNode{}
			if in := (trieInfo{exact: kb.wi.c, prefix: kb.prefix, lit: kb.wi.lit}); in != (trieInfo{}) {
				nd.info = int32(len(t.info))
				if in.prefix != 0 {
					nd.info = -nd.info
				}
				t.info = append(t.info, in)
			}
			t.nodes = append(t.nodes, nd)
			kids = append(kids, kb)
		}
		for k, kb := range kids {
			place(first+k, kb)
		}
	}
	place(0, root)
	// Fill depth2 from the finished layout.
	for c0 := range n {
		r := &t.nodes[0]
		if r.mask&(1<<c0) == 0 {
			continue
		}
		n1 := &t.nodes[int(r.first)+bits.OnesCount64(r.mask&(1<<c0-1))]
		for c1 := range n {
			if n1.mask&(1<<c1) != 0 {
				t.depth2[c0*n+c1] = t.nodes[n1.first+int32(bits.OnesCount64(n1.mask&(1<<c1-1)))]
			}
		}
	}
	return t
}

// lookup is w's word information: the whole-word entry's concepts and
// literal word, and the concepts of all prefix entries w starts with.
func (t *wordTrie) lookup(w []byte) wordInfo {
	n := 0
	var pc concept
	switch len(w) {
	case 0, 1:
	case 2:
		// The copy of the node in depth2 has its info too (a missing
		// node's copy is all zero: no info).
		c0, c1 := t.cls[w[0]], t.cls[w[1]]
		if c0 == noClass || c1 == noClass {
			return wordInfo{}
		}
		ix := t.depth2[int(c0)*t.nclass+int(c1)].info
		if ix < 0 {
			ix = -ix
		}
		in := &t.info[ix]
		return wordInfo{c: in.exact, lit: in.lit}
	default:
		// Straight to the third byte's node, by the copy of the second
		// byte's. Prefix entries have three bytes or more, so no node
		// above the third carries a prefix concept.
		c0, c1, c2 := t.cls[w[0]], t.cls[w[1]], t.cls[w[2]]
		if c0 == noClass || c1 == noClass || c2 == noClass {
			return wordInfo{}
		}
		nd := &t.depth2[int(c0)*t.nclass+int(c1)]
		bit := uint64(1) << c2
		if nd.mask&bit == 0 {
			return wordInfo{}
		}
		n = int(nd.first) + bits.OnesCount64(nd.mask&(bit-1))
		if in := t.nodes[n].info; in < 0 {
			pc = t.info[-in].prefix
		}
		w = w[3:]
	}
	for _, b := range w {
		c := t.cls[b]
		if c == noClass {
			return wordInfo{c: pc}
		}
		nd := &t.nodes[n]
		bit := uint64(1) << c
		if nd.mask&bit == 0 {
			return wordInfo{c: pc}
		}
		n = int(nd.first) + bits.OnesCount64(nd.mask&(bit-1))
		if in := t.nodes[n].info; in < 0 {
			pc |= t.info[-in].prefix
		}
	}
	ix := t.nodes[n].info
	if ix < 0 {
		ix = -ix
	}
	in := &t.info[ix]
	return wordInfo{c: pc | in.exact, lit: in.lit}
}
