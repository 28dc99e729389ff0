package injection

// lexiconMore adds the main concepts in Polish, Czech, Romanian, Hungarian,
// Finnish, Swedish, Danish, Norwegian, Turkish, Indonesian, Vietnamese,
// Russian, Ukrainian, Greek, Chinese, Japanese, Korean, Arabic, Hebrew and
// Hindi. Words are written as the language writes them: buildLexicon folds
// every entry the way text is folded (accents dropped, look-alike Cyrillic
// and Greek letters made Latin, Hangul decomposed), so an entry matches the
// folded text whatever the folding makes of it. Entries outside Latin,
// Greek and Cyrillic go to the wide tables (lexiconIndex.wide); Chinese and
// Japanese entries, which text writes without spaces, are found inside
// words by the tokenizer (tokenizer.cjkWord). Short words that are also
// common English or code words ("var", "add", "most", "ban") are left out.
var lexiconMore = map[concept]string{
	cIgnore: `zignoruj* ignoruj* pomin* zapomnij* zapomni* zlekcewaz* lekcewaz* odrzuc*
		ignorovat* zapomen* zapomn* nevsimej* prehlizej*
		uita* neglija*
		hagyd* felejtsd* felejts* mellozd* figyelmen
		ohita* unohda* sivuuta* huomiotta
		glom* strunta* bortse*
		glem* tilsidesaet*
		yoksay* yok gormezden* umursama* unut* ardi gozardi*
		abaikan* lupakan* acuhkan* hiraukan
		qua quen
		игнор* проигнорир* забудь* забуд* забыть пренебрег* отбрось* отбрось
		ігнор* проігнор* знехтуй* нехтуй*
		αγνόησ* αγνοήστε ξέχασε* ξεχάστε παράβλεψ*
		忽略 忽视 忽視 无视 無視 不要理会 别管 忘记 忘記 忘掉 忘了 抛开 拋開 跳过 绕过 繞過 忘れ 破棄 スキップ
		무시* 잊어* 잊고* 잊으* 건너뛰*
		تجاهل* وتجاهل* انس انسى تناس* اهمل* أهمل*
		התעלם* תתעלם* להתעלם* שכח* תשכח*
		अनदेखा* नज़रअंदाज़* भूल* उपेक्षा*`,
	cPrior: `poprzedni* wszystki* wszystko wczesniejsz* dotychczasow* powyzsz*
		predchozi* vsechn* vsechno drivejsi* puvodni*
		anterioare toate precedent*
		korabbi* elozo* osszes* minden* eredeti* fenti*
		aiemm* aikaisemm* edelli* kaikki* alkuperai*
		tidigare foregaende alla ursprungliga tidligere forrige* oprindelige opprinnelige
		onceki* tum* butun* hepsi* eski* yukaridaki* orijinal*
		sebelumnya semua seluruh* sebelum* asli
		truoc tat 
		предыдущ* все всё всех прежн* ранее ранн* вышеуказан* исходн* первоначальн*
		попередн* усі всі раніш* початков*
		προηγούμεν* όλες όλα όλους αρχικ* παραπάνω
		之前 以前 先前 此前 上面 上述 所有 全部 一切 原来 原來 原先 早先 前面 これまで 先ほど 上記 すべて 全て 今まで 最初の 元の 前の
		이전* 모든 모두 앞의 위의 기존* 원래* 지금까지
		السابقة السابق* سابق* كل جميع الأصلية أعلاه
		הקודמות הקודמים הקודם קודמ* כל המקוריות לעיל
		पिछले पिछली पिछला पहले सभी सारे सारी मूल`,
	cInstr: `instrukcj* polecen* zasad* reguly regul regulami wytyczn* ograniczen*
		instrukc* pokyn* pravidl* omezeni*
		instructiun* reguli*
		utasitas* szabaly* iranyelv*
		ohje* saanno* saant* rajoitu*
		regler riktlinjer* retningslinjer* instruksjon*
		talimat* kural* yonerge* komut*
		instruksi* perintah* aturan* pedoman* arahan*
		huong lenh
		инструкц* указани* правил* директив* команд*
		інструкц* вказів* правил* настанов*
		οδηγίες οδηγι* κανόν* εντολ*
		指令 指示 规则 規則 说明 說明 指引 准则 準則 规定 規定 命令 ルール 制約
		지시* 지침* 명령* 규칙*
		التعليمات تعليمات* بالتعليمات والتعليمات التوجيهات توجيه* القواعد قواعد* الأوامر أوامر*
		ההוראות הוראות* הנחיות* ההנחיות כללים הכללים
		निर्देश* नियम* हिदायत* आदेश*`,
	cPrompt: `instrukcj* polecen* pokyn* instructiun* utasitas* ohje* kehote* kehott* talimat* istem* komut* instruksi* perintah*
		nhac
		промпт* подсказк* инструкц* указани* інструкц* вказів*
		προτροπ* οδηγίες
		提示词 提示詞 提示 指令 指示 プロンプト 指示
		프롬프트* 지시*
		موجه* الموجه موجّه* المطالبة التعليمات تعليمات*
		הנחיית* ההנחיות פרומפט* ההוראות
		प्रॉम्प्ट* प्रोम्प्ट* निर्देश*`,
	cSecretQ: `systemow* ukryt* tajn* wewnetrzn* systemov* skryt* interni* sistem* ascuns* secrete secreta secretul 
		rendszer* rejtett* titkos* belso* jarjestelma* piilo* salai* sisai*
		dolda hemliga skjulte hemmelige gizli* dahili* tersembunyi rahasia thong
		системн* скрыт* секретн* внутренн* исходн* прихован* внутрішн* дословно
		συστήματος συστημ* κρυφ* μυστικ* εσωτερικ*
		系统 系統 隐藏 隱藏 秘密 内部 原始 完整 逐字 原文 システム 隠れた 一字一句 そのまま
		시스템* 숨겨진 비밀* 내부* 그대로
		النظام نظام* المخفية السرية الداخلية حرفي*
		המערכת מערכת* הנסתרות הסודיות הפנימיות
		सिस्टम* छिपे गुप्त आंतरिक शब्दशः`,
	cReveal: `pokaz* wypisz* wyswietl* powtorz* podaj* ujawnij* zdradz* napisz* przepisz* wydrukuj* przetlumacz*
		ukaz* vypis* zobraz* zopakuj* prozrad* napis*
		arata* afiseaza* repeta* dezvaluie* scrie* spune*
		mutasd* ird* ismeteld* sorold* fedd*
		nayta* tulosta* toista* kerro* paljasta* kirjoita*
		visa skriv* upprepa* avsloja* beratta* gentag* afslor* fortal* gjenta* avslor* fortell*
		goster* yaz* tekrarla* listele* soyle* acikla*
		tampilkan* tunjukkan* perlihatkan* tulis* ulangi* sebutkan* ungkapkan* berikan* cetak*
		hien viet 
		покажи* выведи* повтори* раскрой* напиши* перечисли* расскажи* скажи* распечатай* выдай* покажіть
		виведи* розкрий* перелічи*
		δείξε* δείξτε εμφάνισε* επανάλαβε* γράψε* αποκάλυψε* πες
		显示 顯示 展示 输出 輸出 打印 告诉 告訴 透露 泄露 洩露 重复 重複 列出 给我看 給我看 写出 寫出 翻译 翻譯 说出 說出
		見せ 表示 出力 教え 繰り返 書いて 列挙 印刷 開示
		보여* 출력* 알려* 반복* 말해* 나열* 공개*
		أرني أظهر اظهر اعرض اكتب كرر اطبع اكشف أخبرني اخبرني
		הצג* הראה* תראה* כתוב* חזור* גלה* ספר* הדפס*
		दिखाओ दिखाएँ दिखाइए दिखा* बताओ बताइए बता* लिखो लिख* दोहराओ दोहरा* प्रकट*`,
	cYou: `ty twoj* twoje swoj* swoje tobie tvuj tve tvoje tobe svuj tau  iti teged neked sina sinun sinua
		din ditt dina dig dit dine deg sen senin sana seni kamu anda engkau
		ты твой твои твою твоё свой свои свою своё тебя тебе ваш ваши ти твій твої свій свої
		εσύ σου σας
		你 您 你的 您的 あなた あなたの 君
		당신* 너의 너는 너 네가
		أنت انت لك بك الخاص
		אתה שלך לך
		तुम तुम्हारा तुम्हारे तुम्हें आप अपना अपने अपनी`,
	cNow: `teraz odtad nyni acum mostantol  simdi artik bundan sekarang
		теперь сейчас отныне тепер зараз τώρα
		现在 現在 从现在 從現在 今后 今後 从今以后 今から これから
		지금* 이제
		الآن الان עכשיו מעכשיו अब`,
	cBecome: `badz udawaj* zachowuj* chovej* comporta* joaca* legy viselkedj* jatszd* toimi* kayttaydy* agera* opfor* oppfor*
		davran* jadilah bertindak* berperan*
		будь стань веди действуй притворись поводься
		γίνε συμπεριφέρσου
		扮演 充当 充當 成为 成為 变成 變成 演じ なりきっ
		역할* 척해*
		تصرف كن התנהג बनो व्यवहार`,
	cPersona: `deweloper* programist* gelistirici*
		разработчик* розробник*
		开发者 開發者 越狱 越獄 開発者 脱獄 개발자* 탈옥* المطور מפתח डेवलपर`,
	cMode: `tryb* rezim* modul modu modunda moduna tila* lage tilstand
		режим* λειτουργία 模式 モード 모드* وضع الوضع מצב मोड`,
	cAssistant: `asystent* czatbot* asistent* asszisztens* avustaja* tekoaly* chattbot* asistan* zeka* zekaya asisten*
		ии ии-ассистент ассистент* помощник* модел* бот* чат-бот* чатбот* нейросет* асистент* помічник*
		βοηθ* μοντέλο
		助手 助理 人工智能 机器人 機器人 模型 聊天机器人 アシスタント モデル チャットボット 人工知能
		어시스턴트* 비서* 인공지능* 챗봇* 모델*
		المساعد مساعد* الذكاء للذكاء النموذج للنموذج روبوت
		העוזר עוזר* הבינה המודל לבינה למודל
		सहायक एआई मॉडल चैटबॉट`,
	cAll: `wszystk* cala calosc toate intreaga osszes* minden* teljes* kaikki* koko alla hela alle hele
		tum* butun* hepsi* tamami* semua seluruh* tat
		все всё всех весь всю целиком полност* усі всі увесь
		όλη όλο όλων
		所有 全部 一切 完整 すべて 全て 全部
		모든 모두 전체*
		كل جميع كامل* כל सभी सारा सारे पूरी पूरा`,
	cAbove: `powyzej powyzsz* vyse deasupra fent* felett* fenti* ylla* ovan ovanfor ovenfor ovenstaende yukari* atas tren
		выше над вышеприведен* вище
		πάνω παραπάνω
		上面 上方 以上 上述 上記 上に 上の より上
		위에 위의
		فوق أعلاه מעל למעלה לעיל ऊपर`,
	cNew: `nowe nowa nowy nowych nove novy nova noi nou noua uusi uudet nya nye yeni baru
		новые новая новое новый новых нові нова новий
		νέες νέα νέο
		新的 新 新しい 新たな
		새 새로운
		جديدة الجديدة جديد חדשות חדשה חדש नया नए नई`,
	cWithout: `bez fara nelkul ilman utan uden uten olmadan* olmayan tanpa khong
		без χωρίς
		没有 沒有 不受 无 無 なく なし 無し
		없이 없는
		بدون دون بلا ללא בלי बिना`,
	cLimits: `ograniczen* cenzur* omezeni* restrictii* korlatoz* rajoitu* rajoja sensuur* begransning* begrensning*
		kisitlama* sinir* batasan* pembatasan 
		ограничени* цензур* фильтр* обмежен*
		περιορισμ*
		限制 规则 規則 约束 約束 审查 審查 过滤 過濾 制限 ルール 制約 検閲
		제한* 규칙* 제약* 검열*
		قيود القيود قواعد حدود הגבלות מגבלות כללים प्रतिबंध सीमा* नियम* रोक`,
	cProcess: `czyta* cte* citeste* olvas* lukee lukeva*  leser okuyan* membaca* 
		читает* читающ* читаєш читає* читаюч*
		διαβάζει*
		阅读 閱讀 读到 讀到 正在读 正在讀 処理 読んで 読む
		읽는* 읽고*
		يقرأ تقرأ קורא* पढ़ने* पढ़*`,
	cMessage: `uwaga notatka wiadomosc* poznamka zprava upozorneni mesaj* megjegyzes* uzenet* huomautus* viesti*
		meddelande* notering anteckning besked* meddelelse* melding* beskjed* catatan pesan*
		примечани* сообщени* заметк* примітк* повідомлен*
		σημείωση μήνυμα
		注意 提醒 备注 備註 消息 メッセージ お知らせ
		메모* 참고* 메시지*
		ملاحظة رسالة تنبيه הערה הודעה नोट संदेश*`,
	cFor: `dla pentru szamara till untuk kepada cho
		для για προς
		给 給 致
		إلى الى אל`,
	cPostFor: `icin へ 에게* 께 लिए`,
	cAttention: `wazne pilne dulezite pozor atentie fontos figyelem tarkea viktigt vigtigt viktig onemli dikkat penting perhatian
		внимание важно срочно увага важливо
		σημαντικό προσοχή
		重要 紧急 緊急
		중요* 주의*
		مهم هام חשוב ज़रूरी ध्यान महत्वपूर्ण`,
	cSend: `wyslij* przeslij* przekaz* posli* preposli* trimite* redirectioneaza* kuldd* kuldj* tovabbit* laheta* valita*
		skicka* vidarebefordra* videresend* gonder* ilet* kirim* teruskan*  chuyen
		отправь* отправ* перешли* пересл* перешл* надішли* відправ*
		στείλε* προώθησε*
		发送 發送 发给 發給 转发 轉發 发到 發到 寄给 传给 送信 送って 転送 送る
		보내* 전송* 전달*
		أرسل ارسل شارك שלח* העבר* भेज* फ़ॉरवर्ड*`,
	cData: `rozmow* historie* dane tresc veri veriler* konverzac* obsah conversatie* datele istoric* beszelgetes* adat* elozmeny*
		keskustel* tiedot konversation* historik innehall samtale* indhold historikk innhold
		konusma* gecmis*  icerik* percakapan riwayat isi
		разговор* переписк* истори* данн* содержим* диалог* розмов* історі* дані вміст*
		συνομιλία* ιστορικό δεδομένα περιεχόμενο
		对话 對話 聊天记录 记录 數據 数据 内容 內容 历史 歷史 会話 履歴 データ
		대화* 기록* 데이터* 내용*
		المحادثة محادثة البيانات محتوى سجل השיחה שיחה* הנתונים תוכן היסטוריית बातचीत डेटा सामग्री इतिहास`,
	cSecret: `hasl* klucz* hesl* klic* parol* chei cheia jelszo* kulcs* salasana*  losenord* nyckl* nyckel* adgangskode* passord*
		sifre* anahtar* sandi kunci* khau avain* avaim*
		парол* ключ* токен*
		κωδικ* κλειδ*
		密码 密碼 密钥 密鑰 凭据 憑據 令牌 パスワード 秘密鍵 認証情報 トークン
		비밀번호* 암호*
		مفاتيح مفتاح المرور סיסמה* סיסמא* מפתח* पासवर्ड कुंजी*`,
	cWords: `tekst* slowo* slowa szoveg* teksti* texten teksten metin* teks
		текст* слов*
		κείμενο
		文字 文本 文章 テキスト
		텍스트* 글을
		النص הטקסט पाठ`,
	cUser: `uzytkownik* uzivatel* utilizator* felhasznalo* kayttaja* anvandar* bruger* bruker* kullanici* pengguna*
		пользовател* клиент* користувач* клієнт*
		χρήστη*
		用户 用戶 客户 客戶 ユーザー 利用者 顧客
		사용자* 고객*
		المستخدم مستخدم* للمستخدم العميل המשתמש משתמש* उपयोगकर्ता ग्राहक`,
	cNot: `nie nic nu nem  inte ikke asla jangan tidak dung
		нельзя
		μην
		不要 别 別 不 ないで
		말고 말아*
		لا לא मत नहीं`,
	cTell: `mow* wspominaj* wspomnij* informuj*  bahsetme* soyleme*
		говори* сообщай* упоминай* згадуй*
		告诉 告訴 提及 提到 言わない 伝え
		말하* 알리*
		تذكر תזכיר बताना ज़िक्र`,
	cRespond: `odpowiadaj* odpowiedz* odpovez* odpovidej* raspunde* valaszolj* valasz* vastaa* svara* svar cevap* yanit* jawab* balas* tra
		отвечай* ответь* ответ* відповідай* відповідь*
		απάντησε* απάντηση
		回答 回复 回覆 答复 答覆 答え 返信
		답해* 답하* 답변* 대답*
		أجب اجب الرد ענה* תענה* השב* जवाब उत्तर`,
	cOnly: `tylko wylacznie jen pouze doar numai csak kizarolag vain ainoastaan bara endast kun bare yalnizca sadece hanya chi
		только лишь лише тільки
		μόνο
		只 仅 僅 だけ のみ
		فقط רק केवल सिर्फ़ सिर्फ`,
	cAuthority: `administrator* spravce* rendszergazda* fejleszto* yllapitaja* kehittaja* utvecklare udvikler* utvikler* yonetici* pengembang
		администратор* разработчик* адміністратор* розробник*
		διαχειριστ*
		管理员 管理員 开发者 開發者 开发人员 管理者 開発者
		관리자* 개발자*
		المسؤول المطور الإدارة המנהל מנהל* प्रशासक`,
	cPretend: `wyobraz* udawaj* zalozmy hayal* farz* bayangkan* berpura*
		представь* притворись* вообрази* уяви*
		φαντάσου
		假设 假設 想象 想像 假装 假裝 ふり
		상상* 척*
		تخيل تظاهر افترض דמיין* תעמיד* कल्पना`,
}
